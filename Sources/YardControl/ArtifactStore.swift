import Foundation
import YardBuild
import YardCore

/// Built apps, stored by content address: `<artifacts>/sha256-<key>/app` holds the built
/// folder and `artifact.json` the build result. An artifact without `artifact.json` is
/// unfinished (its build failed or is running) and is never reused.
struct ArtifactStore: Sendable {
    let directory: URL

    func folder(forKey key: String) -> URL {
        directory.appendingPathComponent("sha256-\(key)")
    }

    func appDirectory(forKey key: String) -> URL {
        folder(forKey: key).appendingPathComponent("app")
    }

    private func resultFile(forKey key: String) -> URL {
        folder(forKey: key).appendingPathComponent("artifact.json")
    }

    /// The finished artifact with this key, if any.
    func existing(key: String) -> BuildResult? {
        guard let data = FileManager.default.contents(atPath: resultFile(forKey: key).path),
            FileManager.default.fileExists(atPath: appDirectory(forKey: key).path)
        else { return nil }
        return try? YardJSON.decoder().decode(BuildResult.self, from: data)
    }

    /// Where a build with this key puts its app: the content-addressed folder, or, when an
    /// unfinished one is in the way (a build of the same key running, or a crash's
    /// leftover), a folder of this deployment's own that is never reused.
    func buildDirectory(forKey key: String, deploymentID: String) -> (app: URL, addressed: Bool) {
        let folder = folder(forKey: key)
        if FileManager.default.fileExists(atPath: folder.path) {
            return (directory.appendingPathComponent("build-\(deploymentID)").appendingPathComponent("app"), false)
        }
        return (folder.appendingPathComponent("app"), true)
    }

    /// Marks a content-addressed artifact finished, so later builds reuse it.
    func commit(key: String, result: BuildResult) throws {
        let data = try YardJSON.encoder().encode(result)
        try data.write(to: resultFile(forKey: key), options: .atomic)
    }

    /// Removes finished artifacts whose key is not in `retained`, and unaddressed build
    /// folders of deployments not in `retainedDeployments`. Returns the keys removed.
    @discardableResult
    func collect(retainedKeys: Set<String>, retainedDeployments: Set<String>) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var removed: [String] = []
        for name in names {
            if name.hasPrefix("sha256-") {
                let key = String(name.dropFirst("sha256-".count))
                // Unfinished folders belong to a running build; a failed build removes its own.
                guard existing(key: key) != nil, !retainedKeys.contains(key) else { continue }
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
                removed.append(key)
            } else if name.hasPrefix("build-") {
                let deploymentID = String(name.dropFirst("build-".count))
                guard !retainedDeployments.contains(deploymentID) else { continue }
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
        return removed
    }
}
