import Foundation
import YardCore
import YardRuntime

/// A service's volume on the swarm: a named Docker volume (`<prefix>-vol-<volume id>`) on one
/// node, chosen when the volume is first used and kept beside the volume's folder in the data
/// directory (`<data>/volumes/<id>/.swarm-node`, gone when the volume is deleted), so the
/// choice survives restarts of `yard serve`. Every replica, pre-deploy command and cron run of
/// the service is pinned there (`node.id==…`), as a Railway volume pins its service.
extension SwarmRuntime {
    static let volumeNodeFile = ".swarm-node"
    static let volumeImageFile = ".swarm-image"

    /// Mounts the request's volume at its mount path and pins the task to the volume's node;
    /// adds `RAILWAY_VOLUME_NAME` and `RAILWAY_VOLUME_MOUNT_PATH` to its variables.
    func mountVolume(_ request: inout ReplicaRequest, into spec: inout SwarmServiceSpec) async throws {
        guard let volume = request.volume else { return }
        let node = try await volumeNode(volume, serviceName: request.serviceName)
        spec.TaskTemplate.Placement = .init(Constraints: ["node.id==\(node)"])
        spec.TaskTemplate.ContainerSpec.Mounts = [
            .init(
                Type: "volume", Source: volumeName(volume), Target: volume.mountPath,
                VolumeOptions: .init(Labels: [Self.ownerLabel: configuration.namePrefix, "dev.switchyard.volume": volume.name]))
        ]
        request.environment["RAILWAY_VOLUME_NAME"] = volume.name
        request.environment["RAILWAY_VOLUME_MOUNT_PATH"] = volume.mountPath
        // The image the volume's data can be emptied with when the volume is deleted on another node.
        let imageFile = URL(fileURLWithPath: volume.hostDirectory).appendingPathComponent(Self.volumeImageFile)
        if Self.recordedNode(imageFile) != spec.TaskTemplate.ContainerSpec.Image {
            try Data(spec.TaskTemplate.ContainerSpec.Image.utf8).write(to: imageFile, options: .atomic)
        }
    }

    /// A deleted volume: its Docker volume is removed from the node that holds it. The manager's
    /// engine (the one this server talks to) removes it on the manager; the Engine API has no
    /// call that removes a volume on another node, so there a job pinned to the node, running
    /// as root the image the service last ran, empties the volume, and an empty, labelled Docker
    /// volume stays behind (`docker volume prune` on that node removes it).
    public func removeVolume(id: String, hostDirectory: String) async {
        let directory = URL(fileURLWithPath: hostDirectory)
        guard let node = Self.recordedNode(directory.appendingPathComponent(Self.volumeNodeFile)) else { return }
        let name = objectName("vol-" + id)
        struct Info: Decodable {
            struct Swarm: Decodable { var NodeID: String? }
            var Swarm: Swarm
        }
        if (try? await engine.get("/info", as: Info.self))?.Swarm.NodeID == node {
            await removeLocalVolume(name)
        } else if let image = Self.recordedNode(directory.appendingPathComponent(Self.volumeImageFile)) {
            await emptyVolume(name, on: node, image: image)
        }
    }

    /// Removes a Docker volume of the manager's engine, waiting (up to 20 s) for the containers
    /// of stopped tasks that still hold it to go.
    func removeLocalVolume(_ name: String) async {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let response = try? await engine.send(.DELETE, "/volumes/\(name)")
            if let response, response.succeeded || response.status == 404 {
                logger.info("swarm volume removed", metadata: ["volume": "\(name)"])
                return
            }
            guard ContinuousClock.now < deadline else {
                logger.warning("swarm volume left on the manager: still in use", metadata: ["volume": "\(name)"])
                return
            }
            // The stopped containers of our tasks that still name it (swarm removes them late).
            let filters = #"{"volume":["\#(name)"],"label":["\#(Self.ownerLabel)=\#(configuration.namePrefix)"]}"#
            let query = filters.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            for container in (try? await engine.get("/containers/json?all=1&filters=\(query)", as: [ContainerID].self)) ?? [] {
                _ = try? await engine.send(.DELETE, "/containers/\(container.Id)?force=1")
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    struct ContainerID: Decodable { var Id: String }

    /// Empties a Docker volume on another node with a job pinned there; waits (up to 60 s) for it.
    func emptyVolume(_ name: String, on node: String, image: String) async {
        let jobName = objectName("wipe-" + name)
        let spec = SwarmServiceSpec(
            Name: jobName, Labels: [Self.ownerLabel: configuration.namePrefix],
            TaskTemplate: .init(
                ContainerSpec: .init(
                    Image: image, Labels: [Self.ownerLabel: configuration.namePrefix],
                    Command: ["/bin/sh", "-c", "rm -rf /volume/* /volume/.[!.]* /volume/..?*"], Env: [], Dir: nil,
                    Hostname: "wipe", StopGracePeriod: 1_000_000_000, Secrets: nil, Init: true,
                    Mounts: [.init(Type: "volume", Source: name, Target: "/volume", VolumeOptions: nil)], User: "0"),
                RestartPolicy: .init(Condition: "none", Delay: 0, MaxAttempts: 0),
                Resources: .init(Limits: .init(NanoCPUs: nil, MemoryBytes: nil, Pids: nil)),
                Networks: [], Placement: .init(Constraints: ["node.id==\(node)"])),
            Mode: .init(ReplicatedJob: .init(MaxConcurrent: 1, TotalCompletions: 1)), UpdateConfig: nil,
            EndpointSpec: .init(Mode: "dnsrr", Ports: []))
        guard let service = try? await engine.call(.POST, "/services/create", body: spec, as: CreatedObject.self) else {
            logger.warning("swarm volume left on its node: the job emptying it was refused", metadata: ["volume": "\(name)"])
            return
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var state = "pending"
        while ContinuousClock.now < deadline {
            if let task = (try? await tasks(serviceID: service.id))?.first(where: { $0.isFinished }) {
                state = task.Status.State
                break
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        _ = try? await engine.send(.DELETE, "/services/\(service.id)")
        logger.info("swarm volume emptied on its node", metadata: ["volume": "\(name)", "node": "\(node)", "job": "\(state)"])
    }

    /// The Docker volume's name: the volume's id (the last part of its folder) under the prefix.
    func volumeName(_ volume: ReplicaRequest.Volume) -> String {
        objectName("vol-" + URL(fileURLWithPath: volume.hostDirectory).lastPathComponent)
    }

    /// The id of the node the volume lives on: the one recorded, or (first use) the ready,
    /// active node running the fewest tasks, recorded before it is returned.
    func volumeNode(_ volume: ReplicaRequest.Volume, serviceName: String) async throws -> String {
        let file = URL(fileURLWithPath: volume.hostDirectory).appendingPathComponent(Self.volumeNodeFile)
        if let recorded = Self.recordedNode(file) {
            guard (try? await engine.send(.GET, "/nodes/\(recorded)"))?.succeeded == true else {
                throw YardError(
                    .unavailable,
                    "\(serviceName): its volume \(volume.name) is on swarm node \(recorded), which left the swarm, and its data with it: "
                        + "add the node back (yard node add), or delete the volume and add a new one (yard volume add)")
            }
            return recorded
        }
        let counts = try await runningTaskCounts()
        // Without a registry the image is only in the manager's engine.
        let candidates = try await nodes().filter {
            $0.Status.State == "ready" && $0.Spec.Availability == "active" && (configuration.registry != nil || $0.ManagerStatus != nil)
        }
        guard let chosen = candidates.min(by: { counts[$0.ID, default: 0] < counts[$1.ID, default: 0] }) else {
            throw YardError(
                .unavailable, "\(serviceName): no swarm node is ready and active to hold its volume \(volume.name): yard node list shows them")
        }
        // No suspension between this check and the write: a replica placed meanwhile chose too.
        if let recorded = Self.recordedNode(file) { return recorded }
        try FileManager.default.createDirectory(atPath: volume.hostDirectory, withIntermediateDirectories: true)
        try Data(chosen.ID.utf8).write(to: file, options: .atomic)
        logger.info("swarm volume placed", metadata: ["volume": "\(volume.name)", "node": "\(chosen.name)"])
        return chosen.ID
    }

    static func recordedNode(_ file: URL) -> String? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }
}
