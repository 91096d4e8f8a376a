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
