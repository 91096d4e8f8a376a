import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// Issue 16: the apt packages an app asks for are installed into its provider environment
/// (part of the environment image's name), and one environment is built once at a time.
@Suite("Provider environment apt packages and build lock")
struct ProviderAptPackagesTests {
    static func prepare(railpack: String? = nil, variables: [String: String] = [:]) throws -> ProviderImageBuild {
        let folder = try ProviderImageTests.app(["main.py": "print('hi')\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try railpack.map { text throws(YardError) in try RailpackConfig.parse(text, fileName: "railpack.json") }
        let request = BuildRequest(
            sourceDirectory: folder, appDirectory: folder, variables: variables, hostEnvironment: ["PATH": "/nonexistent"], railpack: config)
        return try ProviderImageTests.builder.prepareProviderImage(request)
    }

    @Test("railpack.json buildAptPackages and deploy.aptPackages and the APT variables join the environment and change its image name")
    func aptPackagesJoinTheEnvironment() throws {
        let plain = try Self.prepare()
        let asked = try Self.prepare(
            railpack: #"{"buildAptPackages": ["libpq-dev"], "deploy": {"aptPackages": ["libpq5", "curl"]}}"#,
            variables: ["RAILPACK_DEPLOY_APT_PACKAGES": "jq curl", "NIXPACKS_APT_PKGS": "sqlite3,zip", "RAILPACK_BUILD_APT_PACKAGES": " "])
        #expect(asked.environment.packages == plain.environment.packages + ["libpq-dev", "libpq5", "curl", "jq", "sqlite3", "zip"])
        #expect(asked.environment.imageName != plain.environment.imageName)
        #expect(asked.containerfile.base == asked.environment.imageName)
        #expect(asked.environment.containerfile.contains("curl jq libpq-dev libpq5 python3 python3-pip python3-venv sqlite3 zip"))
        #expect(asked.artifactKey != plain.artifactKey)
        #expect(asked.plan.notes.contains("apt packages the app asks for are installed into its build environment: libpq-dev libpq5 curl jq sqlite3 zip"))
        #expect(!asked.plan.notes.contains { $0.contains("not installed per build") }, "\(asked.plan.notes)")
        // The same packages in another order are the same environment image.
        let reordered = try Self.prepare(variables: ["RAILPACK_DEPLOY_APT_PACKAGES": "zip sqlite3 jq curl libpq5 libpq-dev"])
        #expect(reordered.environment.imageName == asked.environment.imageName)
    }

    @Test("a word that is not a Debian package name is refused before any step; a variable's value is not repeated")
    func invalidPackageNames() throws {
        let fromFile = #expect(throws: YardError.self) { try Self.prepare(railpack: #"{"buildAptPackages": ["curl; rm -rf /"]}"#) }
        #expect(fromFile?.message.hasPrefix(#"railpack.json buildAptPackages lists "curl; rm -rf /" that is not a Debian package name"#) == true, "\(fromFile?.message ?? "")")
        let fromVariable = #expect(throws: YardError.self) { try Self.prepare(variables: ["RAILPACK_DEPLOY_APT_PACKAGES": "curl --allow-unauthenticated"]) }
        #expect(fromVariable?.message.hasPrefix("the variable RAILPACK_DEPLOY_APT_PACKAGES lists a word that is not a Debian package name") == true)
        #expect(fromVariable?.message.contains("allow") == false)
        #expect(!ProviderEnvironment.isDebianPackageName("Curl") && !ProviderEnvironment.isDebianPackageName("a") && ProviderEnvironment.isDebianPackageName("g++"))
    }

    /// Records how many bodies run at once per key.
    actor Overlap {
        var running: [String: Int] = [:]
        var most: [String: Int] = [:]
        func enter(_ key: String) {
            running[key, default: 0] += 1
            most[key] = max(most[key] ?? 0, running[key] ?? 0)
        }
        func leave(_ key: String) { running[key, default: 0] -= 1 }
    }

    @Test("the environment lock lets one holder per key run at a time, the others waiting; other keys run alongside")
    func keyedLock() async throws {
        let lock = KeyedBuildLock()
        let overlap = Overlap()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<6 {
                let key = index % 2 == 0 ? "python" : "node"
                group.addTask {
                    try await lock.withLock(key) { () async throws(YardError) in
                        await overlap.enter(key)
                        try? await Task.sleep(for: .milliseconds(50))
                        await overlap.leave(key)
                        if index == 4 { throw YardError(.buildFailed, "a failing holder releases the key too") }
                    }
                }
            }
            var failures = 0
            while !group.isEmpty {
                do { try await group.next() } catch { failures += 1 }
            }
            #expect(failures == 1)
        }
        #expect(await overlap.most == ["python": 1, "node": 1])
        let held = (await lock.isHeld("python"), await lock.isHeld("node"))
        #expect(held == (false, false))
    }
}
