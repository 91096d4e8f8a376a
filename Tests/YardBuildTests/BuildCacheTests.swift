import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardBuild

/// The install cache, secret masking and the artifact key, with real python builds (an
/// empty requirements.txt, so no package registry is needed) and the plain launcher.
@Suite("Install cache, build secrets and artifact keys", .serialized)
struct BuildCacheTests {
    let host = ProcessInfo.processInfo.environment

    private func makeCache() -> (BuildCache, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yardcache-\(UUID().uuidString.prefix(8))")
        return (BuildCache(directory: directory, maximumBytes: 1 << 30), directory)
    }

    private func builder(_ cache: BuildCache?) -> Builder {
        Builder(
            configuration: .init(platformExecutable: "/usr/local/bin/yard", cache: cache),
            launcher: PlainProcessLauncher()
        )
    }

    /// A request whose app folder stays put between builds, as /app does in the sandbox.
    private func request(_ app: TemporaryApp, variables: [String: String] = [:], noCache: Bool = false) -> BuildRequest {
        var request = app.request(variables: variables)
        request.hostEnvironment = host
        request.mountPath = app.app.path
        request.noCache = noCache
        return request
    }

    @Test func codeOnlyChangeReusesTheInstallAndALockfileChangeDoesNot() async throws {
        let (cache, directory) = makeCache()
        defer { try? FileManager.default.removeItem(at: directory) }
        let builder = builder(cache)
        let app = try TemporaryApp(["requirements.txt": "# nothing yet\n", "main.py": "print('one')\n"])

        let first = LogRecorder()
        _ = try await builder.build(request(app), log: first.handler)
        #expect(first.contains(.system, "install cache miss"), "\(first.text)")
        #expect(first.contains(.system, "install cache saved"), "\(first.text)")
        #expect(first.text.contains("$ pip install -r requirements.txt"))
        #expect(cache.entries().count == 1)

        try app.write("main.py", "print('two')\n")
        let second = LogRecorder()
        _ = try await builder.build(request(app), log: second.handler)
        #expect(second.contains(.system, "install cache hit"), "\(second.text)")
        #expect(!second.text.contains("$ pip install"), "a hit skips the install: \(second.text)")
        // The restored venv works and the new code is there.
        let run = try await runCommand(".venv/bin/python main.py", in: app.app, environment: host)
        #expect(run.output.contains(.stdout, "two"), "\(run.output.text)")

        try app.write("requirements.txt", "# still nothing, but a different file\n")
        let third = LogRecorder()
        _ = try await builder.build(request(app), log: third.handler)
        #expect(third.contains(.system, "install cache miss"), "\(third.text)")
        #expect(cache.entries().count == 2)

        let bypass = LogRecorder()
        _ = try await builder.build(request(app, noCache: true), log: bypass.handler)
        #expect(bypass.contains(.system, "install cache bypassed"), "\(bypass.text)")
        #expect(bypass.text.contains("$ pip install -r requirements.txt"))
    }

    @Test func withoutAStableAppPathTheCacheIsOff() async throws {
        let (cache, directory) = makeCache()
        defer { try? FileManager.default.removeItem(at: directory) }
        let app = try TemporaryApp(["requirements.txt": "\n", "main.py": "print(1)\n"])
        var request = request(app)
        request.mountPath = nil
        let log = LogRecorder()
        _ = try await builder(cache).build(request, log: log.handler)
        #expect(log.contains(.system, "install cache off"), "\(log.text)")
        #expect(cache.entries().isEmpty)
    }

    @Test func leastRecentlyUsedEntriesAreEvictedAndPruneEmpties() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("yardcache-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: base) }
        let app = base.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: app.appendingPathComponent("deps"), withIntermediateDirectories: true)
        try Data(repeating: 7, count: 300_000).write(to: app.appendingPathComponent("deps/blob"))
        let cache = BuildCache(directory: base.appendingPathComponent("cache"), maximumBytes: 700_000)

        #expect(cache.save(key: "a", directories: ["deps"], from: app) != nil)
        #expect(cache.save(key: "b", directories: ["deps"], from: app) != nil)
        // "a" used last: "b" is the least recently used when "c" arrives.
        Thread.sleep(forTimeInterval: 1.1)
        let restoreTarget = base.appendingPathComponent("restore")
        #expect(cache.restore(key: "a", directories: ["deps"], into: restoreTarget))
        #expect(FileManager.default.fileExists(atPath: restoreTarget.appendingPathComponent("deps/blob").path))
        Thread.sleep(forTimeInterval: 1.1)
        #expect(cache.save(key: "c", directories: ["deps"], from: app) != nil)
        #expect(Set(cache.entries().map(\.key)) == ["a", "c"])
        #expect(!cache.restore(key: "b", directories: ["deps"], into: restoreTarget))

        let pruned = cache.prune(all: true)
        #expect(pruned.removedEntries == 2)
        #expect(pruned.freedBytes >= 600_000)
        #expect(cache.entries().isEmpty)
    }

    @Test func aSecretPrintedByABuildStepIsMasked() async throws {
        let app = try TemporaryApp(["start.sh": "echo ok\n"])
        let log = LogRecorder()
        var request = request(app, variables: ["BUILD_TOKEN": "tok-4242-secret", "PLAIN": "visible-value"])
        request.secretNames = ["BUILD_TOKEN"]
        request.build.buildCommand = "echo \"token is $BUILD_TOKEN, plain is $PLAIN\"; echo \"$BUILD_TOKEN\" >&2"
        _ = try await builder(nil).build(request, log: log.handler)
        #expect(log.contains(.stdout, "token is ***, plain is visible-value"), "\(log.text)")
        #expect(log.contains(.stderr, "***"))
        #expect(!log.text.contains("tok-4242-secret"))
    }

    @Test func aSecretWrittenIntoTheAppFailsTheBuildWithoutShowingIt() async throws {
        let app = try TemporaryApp(["start.sh": "echo ok\n"])
        var request = request(app, variables: ["BUILD_TOKEN": "tok-4242-secret"])
        request.secretNames = ["BUILD_TOKEN"]
        request.build.buildCommand = "mkdir -p config && echo \"$BUILD_TOKEN\" > config/leaked.txt"
        let error = await #expect(throws: YardError.self) {
            _ = try await builder(nil).build(request, log: LogRecorder().handler)
        }
        #expect(error?.message.contains("BUILD_TOKEN") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("config/leaked.txt") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("tok-4242-secret") == false)
    }

    @Test func artifactKeyFollowsSourceAndVariablesButNotTimestamps() throws {
        let app = try TemporaryApp(["start.sh": "echo ok\n"])
        let builder = builder(nil)
        let key = try builder.prepare(request(app)).artifactKey
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 5)],
                                              ofItemAtPath: app.source.appendingPathComponent("start.sh").path)
        #expect(try builder.prepare(request(app)).artifactKey == key)
        #expect(try builder.prepare(request(app, variables: ["A": "1"])).artifactKey != key)
        try app.write("start.sh", "echo changed\n")
        #expect(try builder.prepare(request(app)).artifactKey != key)
    }
}
