import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardControl

/// `tar` itself, below the header check: as root it must unpack as an unprivileged uid, so
/// even an archive the check never saw cannot make device nodes or own host files.
@Suite("Source archive unpacking")
struct SourceArchiveUnpackTests {
    /// A gzip-compressed tar of a scratch folder after `build` ran in it.
    static func archive(_ build: (URL) throws -> Void) throws -> (archive: URL, scratch: URL) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("unpack-\(UUID().uuidString)")
        let content = scratch.appendingPathComponent("content")
        try FileManager.default.createDirectory(at: content, withIntermediateDirectories: true)
        try build(content)
        let archive = scratch.appendingPathComponent("upload.tar.gz")
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        process.currentDirectoryURL = content
        process.arguments = ["-czf", archive.path, "."]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "tar -czf failed")
        return (archive, scratch)
    }

    static func requireRoot() throws {
        try #require(geteuid() == 0, "unpacking as another uid needs root: run the tests as root (sudo swift test)")
    }

    @Test func filesBelongToTheUnpackingUIDAndKeepTheirContent() throws {
        try Self.requireRoot()
        let (archive, scratch) = try Self.archive { folder in
            try Data("print('hi')\n".utf8).write(to: folder.appendingPathComponent("main.py"))
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("pkg"), withIntermediateDirectories: true)
            try Data("x = 1\n".utf8).write(to: folder.appendingPathComponent("pkg/mod.py"))
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let target = scratch.appendingPathComponent("out")
        try SourceArchive.unpack(archive, into: target)
        #expect(try String(contentsOf: target.appendingPathComponent("pkg/mod.py"), encoding: .utf8) == "x = 1\n")
        for path in [target.path, target.appendingPathComponent("main.py").path, target.appendingPathComponent("pkg").path] {
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_uid == SandboxIdentity.unpackUID, "\(path) is owned by \(info.st_uid), not the unpacking uid")
        }
    }

    /// The check refuses such archives first; this is the wall behind it.
    @Test func aDeviceNodeTheCheckMissedIsNeverMade() throws {
        try Self.requireRoot()
        let (archive, scratch) = try Self.archive { folder in
            #expect(mknod(folder.appendingPathComponent("null").path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let target = scratch.appendingPathComponent("out")
        #expect(throws: YardError.self) { try SourceArchive.unpack(archive, into: target) }
        var info = stat()
        let made = lstat(target.appendingPathComponent("null").path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR
        #expect(!made, "tar made a character device on the host")
    }

    /// tar needs no path through the server's private folders: it works in the folder it
    /// was handed, below a parent only root may enter.
    @Test func unpacksBelowAFolderOnlyRootMayEnter() throws {
        try Self.requireRoot()
        let (archive, scratch) = try Self.archive { folder in
            try Data("ok\n".utf8).write(to: folder.appendingPathComponent("file.txt"))
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let locked = scratch.appendingPathComponent("private")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let target = locked.appendingPathComponent("builds/source")
        try SourceArchive.unpack(archive, into: target)
        #expect(try String(contentsOf: target.appendingPathComponent("file.txt"), encoding: .utf8) == "ok\n")
    }
}
