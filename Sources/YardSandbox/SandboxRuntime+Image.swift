import Foundation
import YardCore
import YardImage
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Image replicas and tasks: each gets an instance of the image (a writable layer of its
/// own) as its root, in a user namespace mapped to its service's id block; the image's
/// config says how it runs, the service's settings go on top.
extension SandboxRuntime {
    /// The machine's image store (`<data>/images`).
    nonisolated var images: ImageStore {
        ImageStore(configuration: .init(directory: configuration.dataDirectory.appendingPathComponent("images")))
    }

    func placeImage(_ request: ReplicaRequest, image: ImageArtifact, isReplica: Bool) async throws -> (LaunchSpec, ReplicaPlacement) {
        try Self.checkSubordinateIDs()
        let arguments = try image.config.arguments(startCommand: request.command)
        let idBase = SandboxIdentity.imageIDBlock(forService: request.serviceID + "/" + request.environmentID)
        let (attachment, hosts) = try await attach(request, isReplica: isReplica)
        do {
            let instance = try await images.createInstance(image: image, name: request.id, idBase: idBase)
            imageInstances.insert(request.id)
            let root = ImageRoot(path: instance.rootDirectory)
            let user = try image.config.resolveUser(passwd: root.text(of: "/etc/passwd"), group: root.text(of: "/etc/group"))
            var environment = image.config.environmentVariables.merging(request.environment) { _, service in service }
            environment["PATH"] = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            environment["HOME"] = environment["HOME"] ?? Self.home(of: user.uid, passwd: root.text(of: "/etc/passwd"))
            var writable: [BindMount] = []
            if let volume = request.volume {
                try FileManager.default.createDirectory(atPath: volume.hostDirectory, withIntermediateDirectories: true)
                Self.handOver(volume.hostDirectory, idBase: idBase, to: user)
                environment["RAILWAY_VOLUME_NAME"] = volume.name
                environment["RAILWAY_VOLUME_MOUNT_PATH"] = volume.mountPath
                // The image's declared VOLUMEs are the service volume (where it is mounted) or the
                // instance's own layer (as Docker's anonymous volumes, gone with the replica).
                writable = [BindMount(source: volume.hostDirectory, target: volume.mountPath)]
            }
            var readOnly: [BindMount] = []
            if let resolver = realpath("/etc/resolv.conf", nil) {
                readOnly.append(BindMount(source: String(cString: resolver), target: "/etc/resolv.conf"))
                free(resolver)
            }
            var sandbox = SandboxSpec(
                hostname: request.id, networkNamespace: attachment.namespace, readOnlyBinds: readOnly, writableBinds: writable,
                hostsFile: hosts.path, limits: request.limits, cgroupName: request.id)
            sandbox.image = ImageBox(rootDirectory: instance.rootDirectory, idBase: idBase, uid: user.uid, gid: user.gid)
            let workingDirectory = image.config.workingDirectory.isEmpty ? "/" : image.config.workingDirectory
            let spec = LaunchSpec(
                arguments: arguments, environment: environment, workingDirectory: workingDirectory, label: request.id,
                sandbox: sandbox)
            return (spec, ReplicaPlacement(address: attachment.address, port: request.port, environment: environment))
        } catch {
            await release(request.id)
            throw error
        }
    }

    /// Removes the instance of replica or task `id`, if it has one.
    func removeImageInstance(_ id: String) async {
        guard imageInstances.remove(id) != nil else { return }
        await images.removeInstance(name: id)
    }

    /// At shutdown: every instance and the store's own mounts.
    func removeImageInstances() async {
        imageInstances.removeAll()
        guard FileManager.default.fileExists(atPath: images.configuration.directory.path) else { return }
        await images.removeInstances()
        await images.unmountAll()
    }

    /// A volume belongs to the box's id block: left alone when its top is owned by an id of
    /// the block (an entrypoint may have handed it to its user), else handed to the image's user.
    static func handOver(_ directory: String, idBase: UInt32, to user: (uid: UInt32, gid: UInt32)) {
        var info = stat()
        if lstat(directory, &info) == 0, info.st_uid >= idBase, info.st_uid - idBase < SandboxIdentity.imageIDCount {
            return
        }
        let paths = [directory] + (FileManager.default.subpaths(atPath: directory) ?? []).map { directory + "/" + $0 }
        for path in paths { _ = lchown(path, idBase + user.uid, idBase + user.gid) }
        _ = chmod(directory, 0o700)
    }

    static func home(of uid: UInt32, passwd: String) -> String {
        let entry = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
            .first { $0.count >= 6 && UInt32($0[2]) == uid }
        return entry.map { String($0[5]) }.flatMap { $0.isEmpty ? nil : $0 } ?? (uid == 0 ? "/root" : "/")
    }

    static func checkSubordinateIDs() throws {
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        try SandboxIdentity.checkImageSubordinateIDs(subuid: read("/etc/subuid"), subgid: read("/etc/subgid"))
    }
}
