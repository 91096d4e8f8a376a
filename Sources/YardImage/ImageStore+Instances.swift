import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// One replica's root filesystem: a buildah working container over the image (a writable
/// layer of its own), owned by the replica's id block, mounted, and bound again under
/// `<store>/instances/<name>` so the user namespace's root can reach it (the store's own
/// folders are 0700).
public struct ImageInstance: Sendable, Equatable {
    /// The buildah container's name: `yard-instance-<name>`.
    public var container: String
    /// The root the box gets.
    public var rootDirectory: String

    /// The name it was made under (`createInstance(name:)`).
    public var name: String { String(container.dropFirst(ImageStore.instancePrefix.count)) }
}

extension ImageStore {
    /// The prefix of every instance container: what `removeInstances` finds after a crash.
    public static let instancePrefix = "yard-instance-"

    var instancesDirectory: URL { configuration.directory.appendingPathComponent("instances") }

    /// Makes a writable instance of `image` for replica or task `name`, with the image's ids
    /// 0…65535 stored as host ids `idBase…` (buildah's id-mapped copy), so root inside a user
    /// namespace mapped the same way owns its files and nothing else. An instance of the same
    /// name left from before is replaced.
    public func createInstance(image: ImageArtifact, name: String, idBase: UInt32) async throws -> ImageInstance {
        let container = Self.instancePrefix + name
        await removeInstance(name: name)
        let map = "0:\(idBase):\(SandboxIdentity.imageIDCount)"
        try await run(.buildah, [
            "from", "--pull=never", "--quiet", "--name", container, "--userns-uid-map", map, "--userns-gid-map", map,
            // By id, so a rollback runs exactly its image whatever the name points at now.
            "--", image.id.hasPrefix("sha256:") ? String(image.id.dropFirst(7)) : image.id,
        ])
        do {
            let merged = try await run(.buildah, ["mount", "--", container]).standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // The overlay's top folder is the host root's; root inside must own it to make mount points.
            guard lchown(merged, idBase, idBase) == 0, chmod(merged, 0o755) == 0 else {
                throw YardError(.internal, "cannot hand the root of instance \(name) to its user namespace")
            }
            try FileManager.default.createDirectory(
                at: instancesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            _ = chmod(configuration.directory.path, 0o711)
            let root = instancesDirectory.appendingPathComponent(name).path
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try await SystemCommand(try Self.mountTool(), ["--bind", "--", merged, root]).run()
            return ImageInstance(container: container, rootDirectory: root)
        } catch {
            await removeInstance(name: name)
            throw error
        }
    }

    /// Unmounts and deletes instance `name` (its writable layer goes with it); an instance
    /// that is already gone is not an error.
    public func removeInstance(name: String) async {
        let root = instancesDirectory.appendingPathComponent(name).path
        // Until nothing is mounted there (a bind made twice stacks).
        if let umount = SystemTool.locate("umount") {
            for _ in 0..<4 where Self.isMountPoint(root) {
                _ = try? await SystemCommand(umount, ["--lazy", "--", root]).result()
            }
        }
        _ = rmdir(root)
        let container = Self.instancePrefix + name
        _ = try? await command(.buildah, ["umount", "--", container]).result()
        _ = try? await command(.buildah, ["rm", "--", container]).result()
    }

    /// Removes every instance except `keeping` (names): at start after a crash, and at shutdown.
    public func removeInstances(except keeping: Set<String> = []) async {
        for name in await instanceNames() where !keeping.contains(name) {
            await removeInstance(name: name)
        }
        // Binds whose container is gone (buildah's state lost with a crash).
        for name in (try? FileManager.default.contentsOfDirectory(atPath: instancesDirectory.path)) ?? []
        where !keeping.contains(name) {
            await removeInstance(name: name)
        }
    }

    /// The names of the instances in the store.
    public func instanceNames() async -> [String] {
        guard FileManager.default.fileExists(atPath: configuration.directory.appendingPathComponent("storage.conf").path),
            let result = try? await command(.buildah, ["containers", "--all", "--noheading", "--format", "{{.ContainerName}}"]).result(),
            result.succeeded
        else { return [] }
        return result.standardOutput.split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix(Self.instancePrefix) }.map { String($0.dropFirst(Self.instancePrefix.count)) }
    }

    private static func mountTool() throws -> String {
        guard let mount = SystemTool.locate("mount") else { throw SystemTool.missing("mount", neededFor: "running images") }
        return mount
    }

    static func isMountPoint(_ path: String) -> Bool {
        guard let mounts = ProcFile.read("/proc/self/mounts") else { return false }
        let escaped = path.replacingOccurrences(of: " ", with: "\\040")
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first.map(String.init) == escaped }
    }
}
