import Foundation
import YardCore
import YardRuntime

/// Packs a folder into a .tar.gz for `yard up`. Which files go in is decided by git's own
/// ignore engine (`git ls-files` against a throwaway index), so `.gitignore` files at every
/// level and `.railwayignore` behave exactly as users expect; `.git` and `node_modules`
/// never go in.
enum SourcePackager {
    struct Package {
        var archive: URL
        var fileCount: Int
        var bytes: Int
    }

    static func pack(folder: URL) throws -> Package {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-pack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let gitDir = scratch.appendingPathComponent("git")
        _ = try run(["git", "init", "--quiet", "--bare", gitDir.path], in: folder)

        var arguments = [
            "git", "--git-dir=\(gitDir.path)", "--work-tree=\(folder.path)", "ls-files",
            "--others", "--exclude-standard", "-z", "--exclude=node_modules/", "--exclude=.git",
        ]
        let railwayIgnore = folder.appendingPathComponent(".railwayignore")
        if FileManager.default.fileExists(atPath: railwayIgnore.path) {
            arguments.append("--exclude-from=\(railwayIgnore.path)")
        }
        let listed = try run(arguments, in: folder)
        let files = listed.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            .filter { !$0.split(separator: "/").contains("node_modules") }
        guard !files.isEmpty else {
            throw YardError(.invalidInput, "\(folder.path) has no files to deploy (everything is ignored or the folder is empty)")
        }
        let list = scratch.appendingPathComponent("files")
        try Data(files.joined(separator: "\0").utf8).write(to: list)
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("yard-up-\(UUID().uuidString).tar.gz")
        // Hard links go as plain files: the server accepts only files, folders and symlinks.
        _ = try run(["tar", "-czf", archive.path, "--hard-dereference", "-C", folder.path, "--null", "-T", list.path], in: folder)
        let bytes = (try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int) ?? 0
        return Package(archive: archive, fileCount: files.count, bytes: bytes)
    }

    /// Unpacks an archive the way the server does (files owned by the caller, modes under
    /// its umask), so a local plan sees what the server will see.
    static func unpack(_ archive: URL, into directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = try run(["tar", "-xzf", archive.path, "-C", directory.path, "--no-same-owner", "--no-same-permissions"], in: directory)
    }

    private static func run(_ arguments: [String], in folder: URL) throws -> Data {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = folder
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw YardError(.unavailable, "cannot run \(arguments[0]): \(error); install it with `apt-get install -y git tar`")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw YardError(.invalidInput, "`\(arguments.prefix(3).joined(separator: " "))` failed: \(String(decoding: message, as: UTF8.self))")
        }
        return data
    }
}
