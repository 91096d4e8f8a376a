import Foundation
import Testing
import YardCore

@testable import YardControl

/// The project repository with the real git: created bare with its hook, and read back
/// for a push's commit, changed paths and tree.
@Suite("git repository")
struct GitRepositoryTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("yard-git-test-\(UUID().uuidString.prefix(8))")

    @Test("prepare creates the bare repository and a hook that runs the yard binary; commits, changed paths and archives read back")
    func roundTrip() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = GitRepository(dataDirectory: root.appendingPathComponent("data"), projectID: "prj_1")
        try await repository.prepare(platformExecutable: "/opt/it's here/yard")
        #expect(repository.directory.path.hasSuffix("data/git/prj_1.git"))
        let hook = try String(contentsOf: repository.directory.appendingPathComponent("hooks/post-receive"), encoding: .utf8)
        #expect(hook.contains("exec '/opt/it'\\''s here/yard' git receive-hook"), "\(hook)")
        #expect(FileManager.default.isExecutableFile(atPath: repository.directory.appendingPathComponent("hooks/post-receive").path))
        #expect(try await repository.git(["config", "http.receivepack"]).trimmingCharacters(in: .whitespacesAndNewlines) == "true")
        // Preparing again keeps the repository.
        try await repository.prepare(platformExecutable: "/usr/bin/yard")
        #expect(
            try String(contentsOf: repository.directory.appendingPathComponent("hooks/post-receive"), encoding: .utf8)
                .contains("exec '/usr/bin/yard'"))

        let work = root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("api"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: work.appendingPathComponent("web"), withIntermediateDirectories: true)
        try "a".write(to: work.appendingPathComponent("api/a.py"), atomically: true, encoding: .utf8)
        try "w".write(to: work.appendingPathComponent("web/index.js"), atomically: true, encoding: .utf8)
        let git = ["-C", work.path, "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.invalid"]
        _ = try await GitRepository.git(["init", "--quiet", "--initial-branch=main", work.path])
        _ = try await GitRepository.git(git + ["add", "."])
        _ = try await GitRepository.git(git + ["commit", "--quiet", "-m", "first\n\nmore text"])
        try "w2".write(to: work.appendingPathComponent("web/index.js"), atomically: true, encoding: .utf8)
        _ = try await GitRepository.git(git + ["commit", "--quiet", "-am", "second"])
        _ = try await GitRepository.git(git + ["push", "--quiet", repository.directory.path, "main"])
        let second = try await repository.git(["rev-parse", "main"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let first = try await repository.git(["rev-parse", "main~1"]).trimmingCharacters(in: .whitespacesAndNewlines)

        #expect(
            try await repository.commit(first, branch: "main")
                == GitCommit(sha: first, branch: "main", message: "first", author: "Ada Lovelace"))
        #expect(try await repository.changedPaths(from: nil, to: first) == ["api/a.py", "web/index.js"])
        #expect(try await repository.changedPaths(from: first, to: second) == ["web/index.js"])

        let archive = root.appendingPathComponent("tree.tar.gz")
        try await repository.archive(second, to: archive)
        let tree = root.appendingPathComponent("tree")
        try SourceArchive.extract(archive, into: tree)
        #expect(try String(contentsOf: tree.appendingPathComponent("web/index.js"), encoding: .utf8) == "w2")
        #expect(FileManager.default.fileExists(atPath: tree.appendingPathComponent("api/a.py").path))

        await #expect(throws: YardError.self) { try await repository.commit("0123456789abcdef", branch: "main") }
    }
}
