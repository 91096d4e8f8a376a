import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A project's bare repository, `<data>/git/<project-id>.git`, that `git push` writes to
/// through `git http-backend`. Its `post-receive` hook runs `yard git receive-hook`, which
/// reports the pushed refs to the API; that is where deployments start.
public struct GitRepository: Sendable {
    public let directory: URL

    public init(dataDirectory: URL, projectID: String) {
        directory = Self.root(dataDirectory: dataDirectory).appendingPathComponent("\(projectID).git")
    }

    /// The folder holding every project's repository (http-backend's `GIT_PROJECT_ROOT`).
    public static func root(dataDirectory: URL) -> URL {
        dataDirectory.appendingPathComponent("git")
    }

    /// Creates the bare repository on first use, and (re)writes its hook so it runs the
    /// current `yard` binary.
    public func prepare(platformExecutable: String) async throws {
        if !FileManager.default.fileExists(atPath: directory.appendingPathComponent("HEAD").path) {
            try FileManager.default.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = try await Self.git(["init", "--quiet", "--bare", "--initial-branch=main", directory.path])
            // Pushes are authenticated by the API (REMOTE_USER is set), this only makes it explicit.
            _ = try await git(["config", "http.receivepack", "true"])
        }
        let hook = directory.appendingPathComponent("hooks/post-receive")
        let script = """
            #!/bin/sh
            # Written by yard serve: reports the pushed refs to the API, which deploys the
            # services linked to each branch and prints their progress here.
            exec \(platformExecutable.shellQuotedForHook) git receive-hook

            """
        if (try? String(contentsOf: hook, encoding: .utf8)) != script {
            try FileManager.default.createDirectory(at: hook.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(script.utf8).write(to: hook, options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        }
    }

    /// The commit's first message line, author and the branch it was pushed to.
    public func commit(_ sha: String, branch: String) async throws -> GitCommit {
        try Self.requireObjectID(sha)
        let output = try await git(["log", "-1", "--format=%H%x00%an%x00%s", "--end-of-options", sha, "--"])
        let fields = output.trimmingCharacters(in: .newlines).split(separator: "\0", omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw YardError(.internal, "git log printed an unexpected line for \(sha)") }
        return GitCommit(sha: String(fields[0]), branch: branch, message: String(fields[2]), author: String(fields[1]))
    }

    /// Paths (from the repository root) that differ between two commits; with no old
    /// commit (a new branch), every file of the new one.
    public func changedPaths(from old: String?, to new: String) async throws -> [String] {
        try Self.requireObjectID(new)
        if let old { try Self.requireObjectID(old) }
        let output =
            if let old {
                try await git(["diff", "--name-only", "--no-renames", "-z", "--end-of-options", old, new, "--"])
            } else {
                try await git(["ls-tree", "-r", "--name-only", "-z", "--end-of-options", new])
            }
        return output.split(separator: "\0").map(String.init)
    }

    /// Whether the repository has `sha` as a commit.
    public func hasCommit(_ sha: String) async -> Bool {
        guard !sha.isEmpty, sha.allSatisfy(\.isHexDigit) else { return false }
        return (try? await git(["cat-file", "-e", "--end-of-options", "\(sha)^{commit}"])) != nil
    }

    /// The full id of the commit `sha` (hex, possibly abbreviated) names, or nil when the
    /// repository has no such commit.
    public func resolveCommit(_ sha: String) async -> String? {
        guard !sha.isEmpty, sha.utf8.count <= 64, sha.allSatisfy(\.isHexDigit),
            let output = try? await git(["rev-parse", "--verify", "--quiet", "--end-of-options", "\(sha)^{commit}"])
        else { return nil }
        let full = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return GitObjectID.isValid(full) ? full : nil
    }

    /// The commit branch `branch` points at, or nil when the repository has no such branch.
    public func branchHead(_ branch: String) async -> String? {
        guard (try? ServiceBranchLink.validate(branch)) != nil,
            let output = try? await git(["rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/\(branch)^{commit}"])
        else { return nil }
        let sha = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return sha.isEmpty ? nil : sha
    }

    /// The commit's tree as a `.tar.gz`, the format `yard up` uploads.
    public func archive(_ sha: String, to file: URL) async throws {
        try Self.requireObjectID(sha)
        _ = try await git(["archive", "--format=tar.gz", "--output=\(file.path)", "--end-of-options", sha])
    }

    /// Revisions that reach git from outside are full object ids, never options or expressions;
    /// callers check first with a clearer message, this is the last line.
    static func requireObjectID(_ id: String) throws(YardError) {
        guard GitObjectID.isValid(id) else {
            throw YardError(.invalidInput, "'\(id.prefix(80))' is not a full git object id (40 or 64 hex digits)")
        }
    }

    func git(_ arguments: [String]) async throws -> String {
        try await Self.git(["--git-dir=\(directory.path)"] + arguments)
    }

    /// Runs git to completion; output goes to an unlinked file so nothing has to drain a pipe.
    static func git(_ arguments: [String]) async throws -> String {
        let output = try scratchFile()
        let errors = try scratchFile()
        defer {
            try? output.close()
            try? errors.close()
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_TERMINAL_PROMPT"] = "0"
        process.environment = environment
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: YardError(.unavailable, "git could not be started: \(error); install git", cause: error))
            }
        }
        guard status == 0 else {
            let message = String(decoding: try contents(of: errors), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw YardError(.internal, "`git \(arguments.first { !$0.hasPrefix("--git-dir") } ?? "")` failed: \(message)")
        }
        return String(decoding: try contents(of: output), as: UTF8.self)
    }

    private static func scratchFile() throws -> FileHandle {
        var template = Array((NSTemporaryDirectory() + "/yard-git-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw YardError(.internal, "cannot create a temporary file for git's output") }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    private static func contents(of handle: FileHandle) throws -> Data {
        try handle.seek(toOffset: 0)
        return try handle.readToEnd() ?? Data()
    }
}

extension String {
    /// Single-quoted for `/bin/sh`.
    fileprivate var shellQuotedForHook: String {
        "'" + replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
