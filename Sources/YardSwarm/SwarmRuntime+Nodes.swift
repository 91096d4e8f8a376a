import Foundation
import YardCore
import YardImage
import YardRouter
import YardRuntime

/// What spans nodes: the environment's overlay network, images in the registry every node
/// pulls from, reaching a task on whichever node runs it, and the nodes themselves.
extension SwarmRuntime {
    // MARK: the environment's private network

    /// The environment's overlay network (`<prefix>-env-<id>`, attachable, labelled), made on
    /// first use: its replicas find each other as `<service>.railway.internal` on any node.
    func overlayNetwork(environmentID: String) async throws -> String {
        if let id = networks[environmentID] { return id }
        // Placements in one environment that come together share one creation (see `creatingNetworks`).
        if let creating = creatingNetworks[environmentID] { return try await creating.value }
        let creation = Task { try await self.findOrCreateOverlayNetwork(environmentID: environmentID) }
        creatingNetworks[environmentID] = creation
        defer { creatingNetworks[environmentID] = nil }
        return try await creation.value
    }

    private func findOrCreateOverlayNetwork(environmentID: String) async throws -> String {
        let name = objectName("env-" + environmentID)
        if let existing = try? await engine.get("/networks/\(name)", as: LabeledObject.self), !existing.id.isEmpty {
            networks[environmentID] = existing.id
            return existing.id
        }
        let spec = SwarmNetworkSpec(
            Name: name, Driver: "overlay", Attachable: true, Internal: false, CheckDuplicate: true,
            Labels: [Self.ownerLabel: configuration.namePrefix, "dev.switchyard.environment": environmentID])
        let id = try await engine.call(.POST, "/networks/create", body: spec, as: CreatedObject.self).id
        networks[environmentID] = id
        return id
    }

    func removeOverlayNetwork(environmentID: String) async {
        guard let id = networks.removeValue(forKey: environmentID) else { return }
        await removeNetworkObject(id)
    }

    /// Deletes a network; the engine refuses while a task's endpoint on it is being removed.
    func removeNetworkObject(_ id: String) async {
        for _ in 0..<50 {
            guard let status = (try? await engine.send(.DELETE, "/networks/\(id)"))?.status, status == 403 || status == 409 || status == 500
            else { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    // MARK: images every node pulls

    /// The image in the registry, by digest (`HOST:PORT/switchyard/image@sha256:…`), pushed
    /// from the machine's store the first time with `skopeo copy` (plain HTTP: the registry
    /// is on the swarm's private network).
    func pushImage(_ image: ImageArtifact) async throws -> String {
        if let pushed = loadedImages[image.id] { return pushed }
        guard let registry = configuration.registry else { return try await loadImage(image) }
        let hex = image.id.replacingOccurrences(of: "sha256:", with: "")
        let repository = "\(registry.host)/switchyard/image"
        try FileManager.default.createDirectory(at: configuration.scratchDirectory, withIntermediateDirectories: true)
        let digestFile = configuration.scratchDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: digestFile) }
        // Not while the registry collects garbage (a blob before its manifest looks unreferenced).
        await registry.gate.acquire()
        let copied: CommandResult
        do {
            copied = try await configuration.imageStore.command(
                .skopeo,
                [
                    "copy", "--quiet", "--dest-tls-verify=false", "--digestfile", digestFile.path, "containers-storage:\(hex)",
                    "docker://\(repository):\(hex.prefix(32))",
                ]
            ).result()
        } catch {
            await registry.gate.release()
            throw error
        }
        await registry.gate.release()
        guard copied.succeeded, let digest = try? String(contentsOf: digestFile, encoding: .utf8), digest.hasPrefix("sha256:") else {
            throw YardError(
                .unavailable,
                "could not push the image \(image.name) to the swarm's registry \(registry.host): \(copied.standardError.suffix(300))")
        }
        let reference = "\(repository)@\(digest.trimmingCharacters(in: .whitespacesAndNewlines))"
        loadedImages[image.id] = reference
        return reference
    }

    // MARK: reaching tasks on any node

    /// Points the replica's relay port at `task`: its node's address and the port the task
    /// published there (host mode; overlay addresses are not routable from the host).
    func route(replicaID: String, to task: SwarmTask) async {
        guard let replica = placed[replicaID], let nodeID = task.NodeID,
            let published = task.Status.PortStatus?.Ports?.first(where: { $0.TargetPort == replica.request.port })?.PublishedPort,
            let address = await nodeAddress(nodeID)
        else {
            logger.warning("swarm task has no published port yet", metadata: ["replica.id": "\(replicaID)"])
            return
        }
        let upstream = Upstream(host: address, port: published, replicaID: replicaID)
        if replica.request.database != nil { await openDatabaseRelay(replicaID: replicaID, port: replica.request.port) }
        relay.setUpstreams([upstream], port: replica.request.port)
        recordRoute(upstream)
        continuation.yield(.output(replicaID: replicaID, stream: .stdout, line: "swarm: task running at \(address):\(published)"))
    }

    func nodeAddress(_ nodeID: String) async -> String? {
        if let address = nodeAddresses[nodeID] { return address }
        guard let node = try? await engine.get("/nodes/\(nodeID)", as: SwarmNode.self) else { return nil }
        let address = node.address
        nodeAddresses[nodeID] = address
        return address
    }

    // MARK: nodes

    /// The swarm's nodes, managers first.
    func nodes() async throws -> [SwarmNode] {
        try await engine.get("/nodes", as: [SwarmNode].self).sorted { ($0.ManagerStatus != nil ? 0 : 1, $0.name) < ($1.ManagerStatus != nil ? 0 : 1, $1.name) }
    }

    /// Sets a node's availability (`active`, `pause`, `drain`), by id or hostname; a drained
    /// node's tasks are rescheduled on the others.
    @discardableResult
    public func setAvailability(_ availability: String, node: String) async throws -> NodeView {
        guard ["active", "pause", "drain"].contains(availability) else {
            throw YardError(.invalidInput, "'\(availability)' is not a node availability: active, pause or drain")
        }
        let found = try await self.node(named: node)
        let data = try await engine.call(.GET, "/nodes/\(found.ID)")
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let version = (object["Version"] as? [String: Any])?["Index"] as? Int, var spec = object["Spec"] as? [String: Any]
        else { throw YardError(.internal, "the Docker engine answered an unreadable node \(found.ID)") }
        spec["Availability"] = availability
        try await engine.call(.POST, "/nodes/\(found.ID)/update?version=\(version)", json: try JSONSerialization.data(withJSONObject: spec))
        let updated = try await engine.get("/nodes/\(found.ID)", as: SwarmNode.self)
        return updated.view(tasks: try await runningTaskCounts()[found.ID, default: 0])
    }

    /// A node by id, id prefix or hostname.
    func node(named node: String) async throws -> SwarmNode {
        guard let found = try await nodes().first(where: { $0.ID == node || $0.ID.hasPrefix(node) || $0.name == node }) else {
            throw YardError(.notFound, "no swarm node '\(node)': yard node list shows them")
        }
        return found
    }

    public func replicaIDs(onNode node: String) async throws -> [String] {
        let found = try await self.node(named: node)
        let filter = #"{"desired-state":["running"],"node":["\#(found.ID)"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let tasks = try await engine.get("/tasks?filters=\(filter)", as: [SwarmTask].self)
        let services = Set(tasks.filter { $0.Status.State == "running" }.map(\.ServiceID))
        return placed.filter { $0.value.serviceID.map(services.contains) ?? false }.map(\.key).sorted()
    }

    public func clusterNodes() async throws -> [NodeView] {
        let counts = try await runningTaskCounts()
        return try await nodes().map { $0.view(tasks: counts[$0.ID, default: 0]) }
    }

    /// Running tasks per node id.
    func runningTaskCounts() async throws -> [String: Int] {
        let filter = #"{"desired-state":["running"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let tasks = try await engine.get("/tasks?filters=\(filter)", as: [SwarmTask].self)
        return tasks.filter { $0.Status.State == "running" }.reduce(into: [:]) { $0[$1.NodeID ?? "", default: 0] += 1 }
    }
}

/// `GET /nodes`: a machine of the swarm.
public struct SwarmNode: Decodable, Sendable {
    public struct Spec: Decodable, Sendable {
        /// `active`, `pause`, `drain`.
        public var Availability: String
        public var Role: String
    }
    public struct Description: Decodable, Sendable {
        public var Hostname: String?
    }
    public struct Status: Decodable, Sendable {
        /// `ready`, `down`, `unknown`, `disconnected`.
        public var State: String
        public var Addr: String?
    }
    public struct ManagerStatus: Decodable, Sendable {
        public var Addr: String?
        public var Leader: Bool?
    }
    public var ID: String
    public var Spec: Spec
    public var Description: Description?
    public var Status: Status
    public var ManagerStatus: ManagerStatus?

    public var name: String { self.Description?.Hostname ?? ID }

    func view(tasks: Int) -> NodeView {
        NodeView(
            id: ID, name: name, role: self.Spec.Role, state: self.Status.State, availability: self.Spec.Availability, address: address,
            tasks: tasks, leader: self.ManagerStatus?.Leader ?? false)
    }

    /// Where its published ports are reached: its swarm address (a manager's may read
    /// 0.0.0.0 in `Status`; its `ManagerStatus` address then names it).
    public var address: String {
        if let address = self.Status.Addr, address != "0.0.0.0", !address.isEmpty { return address }
        let manager = self.ManagerStatus?.Addr?.split(separator: ":").first.map(String.init)
        return manager ?? "127.0.0.1"
    }
}
