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
        let serviceKey = request.serviceID + "/" + request.environmentID
        let idBase = SandboxIdentity.imageIDBlock(forService: serviceKey)
        // Blocks are derived from a hash: two services must never share one.
        if let holder = imageBlocks[idBase], holder != serviceKey {
            throw YardError(
                .unavailable,
                "\(request.id): this service's image id block (\(idBase)) is already another service's on this server; "
                    + "images of both cannot run at once until blocks are allocated (recreate the service to get a new id)")
        }
        imageBlocks[idBase] = serviceKey
        // A replica takes the spare instance made ahead for its image; else the instance (two
        // buildah runs) is made while the network is attached.
        let store = images
        let spares = isReplica && imageSparesEnabled
        let spare = spares ? takeSpare(imageID: image.id, idBase: idBase) : nil
        async let made = Self.instance(spare, store: store, image: image, name: request.id, idBase: idBase)
        let attachment: ReplicaAttachment
        let hosts: URL
        do {
            (attachment, hosts) = try await attach(request, isReplica: isReplica)
        } catch {
            if let instance = try? await made { await store.removeInstance(name: instance.name) }
            throw error
        }
        do {
            let instance = try await made
            imageInstances[request.id] = instance.name
            if spares { prepareSpare(image: image, idBase: idBase) }
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
        guard let name = imageInstances.removeValue(forKey: id) else { return }
        await images.removeInstance(name: name)
    }

    /// At shutdown: every instance (spares and those being made too) and the store's own mounts.
    func removeImageInstances() async {
        let spares = imageSpares.values
        imageSpares.removeAll()
        for spare in spares {
            if case .making(let task) = spare.state {
                task.cancel()
                await task.value
            }
        }
        imageInstances.removeAll()
        guard FileManager.default.fileExists(atPath: images.configuration.directory.path) else { return }
        await images.removeInstances()
        await images.unmountAll()
    }

    // MARK: Spare instances

    /// How long after a replica's placement its image's next spare starts being made, so the
    /// two buildah runs do not compete with the replica that is starting.
    static let sparePause: Duration = .seconds(1)

    static func instance(
        _ spare: ImageInstance?, store: ImageStore, image: ImageArtifact, name: String, idBase: UInt32
    ) async throws -> ImageInstance {
        if let spare { return spare }
        return try await store.createInstance(image: image, name: name, idBase: idBase)
    }

    /// The block's spare, if it is made and of this image; a spare of another image (the
    /// service deployed a new one) is removed.
    func takeSpare(imageID: String, idBase: UInt32) -> ImageInstance? {
        guard let spare = imageSpares[idBase] else { return nil }
        if spare.imageID != imageID {
            imageSpares[idBase] = nil
            switch spare.state {
            case .making(let task): task.cancel()  // spareMade removes what it made.
            case .ready(let instance):
                let store = images
                Task { await store.removeInstance(name: instance.name) }
            }
            return nil
        }
        guard case .ready(let instance) = spare.state else { return nil }
        imageSpares[idBase] = nil
        return instance
    }

    /// Starts making the block's next spare of `image` (one per block: one per service), unless
    /// one is there or being made.
    func prepareSpare(image: ImageArtifact, idBase: UInt32) {
        guard imageSpares[idBase] == nil else { return }
        let name = "spare-\(String(idBase, radix: 16))-\(UUID().uuidString.prefix(8).lowercased())"
        let store = images
        let task = Task {
            var instance: ImageInstance?
            if (try? await Task.sleep(for: Self.sparePause)) != nil {
                instance = try? await store.createInstance(image: image, name: name, idBase: idBase)
            }
            await self.spareMade(instance, name: name, idBase: idBase)
        }
        imageSpares[idBase] = ImageSpare(imageID: image.id, name: name, state: .making(task))
    }

    /// Keeps a spare that was made, unless it was discarded meanwhile (a newer image, shutdown).
    func spareMade(_ instance: ImageInstance?, name: String, idBase: UInt32) async {
        if let instance, let spare = imageSpares[idBase], spare.name == name {
            imageSpares[idBase]?.state = .ready(instance)
            return
        }
        if imageSpares[idBase]?.name == name { imageSpares[idBase] = nil }
        await images.removeInstance(name: name)
    }

    /// Turns spare instances on (the default) or off for the next placements (the benchmark
    /// compares both); spares already made stay.
    public func setImageSpares(enabled: Bool) {
        imageSparesEnabled = enabled
    }

    /// Waits until no spare is being made (the benchmark, so one never competes with a start it times).
    public func imageSparesReady() async {
        for spare in imageSpares.values {
            if case .making(let task) = spare.state { await task.value }
        }
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

/// An instance made ahead for the next replica of one image in one id block: the replica
/// takes it and starts with no buildah run; the next spare is made in the background.
struct ImageSpare: Sendable {
    enum State: Sendable {
        case making(Task<Void, Never>)
        case ready(ImageInstance)
    }

    var imageID: String
    /// The instance's name (`spare-<block>-<random>`).
    var name: String
    var state: State
}
