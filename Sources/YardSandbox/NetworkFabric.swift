import Foundation
import Logging
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The private network of one project-environment: a bridge holding the subnet's gateway address.
public struct EnvironmentNetwork: Sendable, Equatable {
    public var environmentID: String
    /// The bridge's interface name on the host.
    public var bridge: String
    public var subnet: Subnet

    public init(environmentID: String, bridge: String, subnet: Subnet) {
        self.environmentID = environmentID
        self.bridge = bridge
        self.subnet = subnet
    }
}

/// One replica's place on its environment's network.
public struct ReplicaAttachment: Sendable, Equatable {
    public var replicaID: String
    /// The network namespace's name, for `ip netns exec <namespace>`.
    public var namespace: String
    /// The replica's IPv4 address on the bridge (no prefix length), which the router connects to.
    public var address: String
    /// The host end of the veth pair, enslaved to the bridge.
    public var hostVeth: String
    /// Whether the replica has a default route out (through NAT).
    public var egress: Bool

    /// The namespace's file, for `nsenter --net=<path>` or `setns(2)`.
    public var namespacePath: String { "/run/netns/\(namespace)" }

    public init(replicaID: String, namespace: String, address: String, hostVeth: String, egress: Bool = false) {
        self.replicaID = replicaID
        self.namespace = namespace
        self.address = address
        self.hostVeth = hostVeth
        self.egress = egress
    }
}

/// Creates and removes the private networks replicas run in, with the system's `ip` tool
/// (and `iptables` for the forwarding rules).
///
/// Each project-environment gets a Linux bridge holding its subnet's gateway address; each
/// replica gets a network namespace and a veth pair whose host end is a port of that bridge
/// and whose other end is `eth0` inside the namespace. Replicas have a route to their own
/// subnet only: they reach each other and the host's bridge address, and nothing else.
/// With egress, a replica also gets a default route via the gateway and its subnet is
/// masqueraded. Environments never reach each other: they sit on separate bridges, have no
/// route to other subnets, and forwarding between bridges is rejected by iptables.
///
/// Every kernel object is named with the configured prefix, so a crash's leftovers can be
/// found and removed by `removeLeftovers(prefix:)`. Operations run one at a time.
public actor NetworkFabric {
    public struct Configuration: Sendable {
        /// Start of every namespace, interface and chain name this fabric creates. 2-6 lower-case
        /// letters or digits, starting with a letter. Tests use a different prefix (e.g. "yt")
        /// so they never touch a running server's network.
        public var namePrefix: String

        /// - Precondition: `namePrefix` is 2-6 lower-case letters or digits, starting with a letter.
        public init(namePrefix: String = "yard") {
            precondition(
                NetworkNames.isValidPrefix(namePrefix),
                "network name prefix '\(namePrefix)' must be 2-6 lower-case letters or digits, starting with a letter")
            self.namePrefix = namePrefix
        }
    }

    private struct EnvironmentState {
        var network: EnvironmentNetwork
        var replicaIDs: Set<String> = []
        var egressReplicaIDs: Set<String> = []
    }

    private struct ReplicaState {
        var attachment: ReplicaAttachment
        var environmentID: String
        var host: Int
    }

    public let configuration: Configuration
    private let names: NetworkNames
    private let logger: Logger
    private var environments: [String: EnvironmentState] = [:]
    private var replicas: [String: ReplicaState] = [:]
    private var firewallInstalled = false
    /// Whether this fabric switched IPv4 forwarding on (for egress), so it switches it back off.
    private var enabledForwarding = false
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.names = NetworkNames(prefix: configuration.namePrefix)
        self.logger = logger
    }

    // MARK: Environments

    /// Creates (idempotently) the bridge for an environment, with the subnet the caller
    /// allocated and persisted. The bridge is named from the prefix and a hash of the id.
    ///
    /// Throws `conflict` when the environment already has another subnet, or when another
    /// environment or another interface on the host already uses this subnet.
    public func ensureEnvironment(environmentID: String, subnet: Subnet) async throws -> EnvironmentNetwork {
        await acquire()
        defer { release() }
        let ip = try Self.ipTool()
        let bridge = names.bridge(environmentID: environmentID)
        let network = EnvironmentNetwork(environmentID: environmentID, bridge: bridge, subnet: subnet)

        if let existing = environments[environmentID] {
            guard existing.network.subnet == subnet else {
                throw YardError(
                    .conflict,
                    "environment \(environmentID) already has the network \(existing.network.subnet); remove it before giving it \(subnet)")
            }
            if FileManager.default.fileExists(atPath: "/sys/class/net/\(bridge)") { return existing.network }
            logger.warning("environment bridge disappeared, recreating it", metadata: metadata(network))
        }
        if let other = environments.values.first(where: { $0.network.subnet == subnet && $0.network.environmentID != environmentID }) {
            throw YardError(.conflict, "subnet \(subnet) is already used by environment \(other.network.environmentID); allocate another")
        }
        if let other = environments.values.first(where: { $0.network.bridge == bridge && $0.network.environmentID != environmentID }) {
            throw YardError(
                .conflict,
                "environments \(environmentID) and \(other.network.environmentID) hash to the same bridge name \(bridge); use another environment id"
            )
        }
        let users = try await Self.interfaces(using: subnet, ip: ip).filter { $0 != bridge }
        if !users.isEmpty {
            throw YardError(
                .conflict,
                "subnet \(subnet) is already used on this host by \(users.joined(separator: ", ")); allocate another subnet")
        }

        if !FileManager.default.fileExists(atPath: "/sys/class/net/\(bridge)") {
            try await SystemCommand(ip, ["link", "add", bridge, "type", "bridge"]).run()
        }
        // No IPv6 on the bridge: the host must not be reachable from replicas over link-local addresses.
        Self.writeSysctl("/proc/sys/net/ipv6/conf/\(bridge)/disable_ipv6", "1")
        try await SystemCommand(
            ip, ["-batch", "-"],
            // A MAC of its own: a bridge without one takes its ports' lowest, so it would change
            // as replicas come and go, and replicas would send to the host at a stale address.
            input: "addr flush dev \(bridge)\naddr add \(subnet.gateway)/\(subnet.prefixLength) dev \(bridge)\n"
                + "link set \(bridge) address \(subnet.macAddress(host: 1))\nlink set \(bridge) up\n"
        ).run()
        if let firewall = ForwardingFirewall(names: names) {
            try await installFirewall(firewall)
            try await firewall.allowWithinBridge(bridge)
        } else {
            logger.debug("iptables is not installed; environments stay apart by routes alone (no egress possible)")
        }
        if environments[environmentID] == nil {
            environments[environmentID] = EnvironmentState(network: network)
        }
        logger.info("environment network ready", metadata: metadata(network))
        return network
    }

    /// Detaches the environment's replicas and removes its bridge and rules. Never throws:
    /// failures are logged, and `removeLeftovers(prefix:)` catches anything left.
    public func removeEnvironment(environmentID: String) async {
        await acquire()
        defer { release() }
        await removeEnvironmentLocked(environmentID)
    }

    /// Removes everything this fabric created, for `yard serve` shutdown.
    public func removeAll() async {
        await acquire()
        defer { release() }
        for environmentID in environments.keys.sorted() {
            await removeEnvironmentLocked(environmentID)
        }
        if firewallInstalled, let firewall = ForwardingFirewall(names: names) {
            await firewall.uninstall()
            firewallInstalled = false
        }
        await restoreForwardingIfUnused()
    }

    /// The environments and replicas this fabric currently holds.
    public var snapshot: (environments: [EnvironmentNetwork], replicas: [ReplicaAttachment]) {
        (
            environments.values.map(\.network).sorted { $0.environmentID < $1.environmentID },
            replicas.values.map(\.attachment).sorted { $0.replicaID < $1.replicaID }
        )
    }

    // MARK: Replicas

    /// Creates a network namespace and veth pair for a replica: the host end becomes a port of
    /// the environment's bridge, the other end becomes `eth0` inside the namespace with the
    /// lowest free address of the subnet and the MAC derived from it (`Subnet.macAddress`), so
    /// an address reused after a detach never meets a stale neighbour entry; `lo` is up. The
    /// only route is to the subnet, unless `egress` is true: then a default route via the
    /// gateway, with the subnet masqueraded.
    public func attach(replicaID: String, environmentID: String, egress: Bool = false) async throws -> ReplicaAttachment {
        await acquire()
        defer { release() }
        let ip = try Self.ipTool()
        guard let environment = environments[environmentID] else {
            throw YardError(.notFound, "environment \(environmentID) has no network yet; create it with ensureEnvironment first")
        }
        if replicas[replicaID] != nil {
            throw YardError(.conflict, "replica \(replicaID) is already attached; detach it first")
        }
        let firewall = ForwardingFirewall(names: names)
        if egress, firewall == nil {
            throw SystemTool.missing("iptables", neededFor: "egress for replica \(replicaID)")
        }
        let subnet = environment.network.subnet
        let usedHosts = Set(environment.replicaIDs.compactMap { replicas[$0]?.host })
        guard let host = Subnet.replicaHosts.first(where: { !usedHosts.contains($0) }) else {
            throw YardError(
                .conflict,
                "the network of environment \(environmentID) is full (\(Subnet.replicaHosts.count) replicas); remove some replicas")
        }
        let hostVeth = names.hostVeth(replicaID: replicaID)
        if let other = replicas.values.first(where: { $0.attachment.hostVeth == hostVeth }) {
            throw YardError(
                .conflict, "replicas \(replicaID) and \(other.attachment.replicaID) hash to the same interface name; use another replica id"
            )
        }
        let attachment = ReplicaAttachment(
            replicaID: replicaID, namespace: names.namespace(replicaID: replicaID), address: subnet.address(host: host),
            hostVeth: hostVeth, egress: egress)

        do {
            // eth0's MAC follows from its address, and the host's neighbour entry for the address
            // goes: an address a previous replica had must not be sent to that replica's MAC.
            // One `ip` for the three: a wake waits for this.
            let bridge = environment.network.bridge
            try await SystemCommand(
                ip, ["-batch", "-"],
                input: "netns add \(attachment.namespace)\n"
                    + "link add \(hostVeth) up master \(bridge) type veth peer name eth0 address \(subnet.macAddress(host: host))"
                    + " netns \(attachment.namespace)\nneigh flush to \(attachment.address) dev \(bridge)\n"
            ).run()
            Self.writeSysctl("/proc/sys/net/ipv6/conf/\(hostVeth)/disable_ipv6", "1")
            var inside = "addr add \(attachment.address)/\(subnet.prefixLength) dev eth0\nlink set lo up\nlink set eth0 up\n"
            if egress { inside += "route add default via \(subnet.gateway) dev eth0\n" }
            try await SystemCommand(ip, ["-n", attachment.namespace, "-batch", "-"], input: inside).run()
            if egress, let firewall {
                try await enableForwarding()
                try await firewall.masquerade(subnet: subnet, bridge: environment.network.bridge)
                try await firewall.allowEgress(address: attachment.address, bridge: environment.network.bridge)
            }
        } catch {
            await removeKernelObjects(of: attachment, ip: ip)
            if egress, let firewall {
                await firewall.removeEgress(address: attachment.address, bridge: environment.network.bridge)
                if environment.egressReplicaIDs.isEmpty {
                    await firewall.removeMasquerade(subnet: subnet, bridge: environment.network.bridge)
                }
                await restoreForwardingIfUnused()
            }
            throw error
        }

        replicas[replicaID] = ReplicaState(attachment: attachment, environmentID: environmentID, host: host)
        environments[environmentID]?.replicaIDs.insert(replicaID)
        if egress { environments[environmentID]?.egressReplicaIDs.insert(replicaID) }
        logger.info("replica attached", metadata: metadata(attachment, environment: environment.network))
        return attachment
    }

    /// Removes the replica's namespace and veth pair (and its egress rules) and frees its
    /// address. Unknown replicas are ignored. Processes still inside keep the namespace alive
    /// until they exit, but it has no interface left.
    public func detach(replicaID: String) async {
        await acquire()
        defer { release() }
        await detachLocked(replicaID)
        await restoreForwardingIfUnused()
    }

    // MARK: Start-up checks and cleanup

    /// Whether this machine can give replicas their own networks: root, the `ip` tool, and
    /// network namespaces that can be created. When not, the message says why and what to do.
    public static func isAvailable() -> (Bool, String) {
        guard geteuid() == 0 else {
            return (false, "network isolation needs root (yard serve runs as uid \(geteuid())); run it as root")
        }
        guard let ip = SystemTool.locate("ip") else {
            return (false, "the `ip` tool is missing: \(SystemTool.installCommands["ip"]!)")
        }
        let probe = "yard-probe-\(getpid())"
        let created = SystemCommand(ip, ["netns", "add", probe]).resultBlocking()
        guard created.succeeded else {
            let reason = created.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            return (false, "network namespaces cannot be created here (`ip netns add` failed: \(reason))")
        }
        _ = SystemCommand(ip, ["netns", "del", probe]).resultBlocking()
        return (true, "network namespaces available (\(ip))")
    }

    /// Whether replicas can be given egress: `iptables` is needed for NAT and forwarding rules.
    public static func isEgressAvailable() -> (Bool, String) {
        guard let iptables = SystemTool.locate("iptables") else {
            return (false, "egress needs iptables: \(SystemTool.installCommands["iptables"]!)")
        }
        return (true, "egress available (\(iptables))")
    }

    /// The subnet indexes some interface on this host already has an address in, so an
    /// allocator can skip them.
    public static func subnetIndexesInUse() async throws -> Set<Int> {
        let ip = try ipTool()
        let listing = try await SystemCommand(ip, ["-o", "-4", "addr", "show", "to", "10.213.0.0/16"]).run()
        var indexes = Set<Int>()
        for line in listing.standardOutput.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let inet = fields.firstIndex(of: "inet"), inet + 1 < fields.count else { continue }
            let octets = fields[inet + 1].split(separator: "/")[0].split(separator: ".")
            if octets.count == 4, let index = Int(octets[2]) { indexes.insert(index) }
        }
        return indexes
    }

    /// At start-up: removes every network namespace, veth and bridge whose name starts with
    /// `prefix`, and this prefix's iptables chains: what a crashed server left behind.
    /// Returns what was removed.
    @discardableResult
    public static func removeLeftovers(prefix: String, logger: Logger? = nil) async -> [String] {
        guard NetworkNames.isValidPrefix(prefix), let ip = SystemTool.locate("ip") else { return [] }
        let names = NetworkNames(prefix: prefix)
        var removed: [String] = []
        if let listing = try? await SystemCommand(ip, ["netns", "list"]).run() {
            for line in listing.standardOutput.split(separator: "\n") {
                guard let name = line.split(separator: " ").first.map(String.init), names.isNamespace(name) else { continue }
                if (try? await SystemCommand(ip, ["netns", "del", name]).run()) != nil { removed.append("netns \(name)") }
            }
        }
        // Veths before bridges; deleting a veth removes its peer, so later misses are fine.
        let interfaces = (try? await Self.interfaceNames(ip: ip))?.filter(names.isBridgeOrVeth) ?? []
        let veths = interfaces.filter { $0.dropFirst(prefix.count).first == "v" }
        for name in veths + interfaces.filter({ !veths.contains($0) }) {
            if (try? await SystemCommand(ip, ["link", "del", name]).run()) != nil { removed.append("link \(name)") }
        }
        if let firewall = ForwardingFirewall(names: names) {
            await firewall.uninstall()
            if FileManager.default.fileExists(atPath: forwardingMarker(prefix: prefix)), await !firewall.anyMasqueradeInUse() {
                if writeSysctl("/proc/sys/net/ipv4/ip_forward", "0") { removed.append("IPv4 forwarding (switched back off)") }
            }
        }
        markForwardingEnabled(prefix: prefix, false)
        if !removed.isEmpty {
            logger?.notice(
                "removed network leftovers of a previous run", metadata: ["network.removed": "\(removed.joined(separator: ", "))"])
        }
        return removed
    }

    // MARK: Internals

    private func removeEnvironmentLocked(_ environmentID: String) async {
        guard let environment = environments[environmentID] else { return }
        for replicaID in environment.replicaIDs.sorted() {
            await detachLocked(replicaID)
        }
        let network = environment.network
        if let firewall = ForwardingFirewall(names: names) {
            await firewall.removeMasquerade(subnet: network.subnet, bridge: network.bridge)
            await firewall.removeWithinBridge(network.bridge)
        }
        if let ip = SystemTool.locate("ip") {
            await runLoggingFailure(SystemCommand(ip, ["link", "del", network.bridge]), ignoring: "Cannot find device")
        }
        environments[environmentID] = nil
        await restoreForwardingIfUnused()
        logger.info("environment network removed", metadata: metadata(network))
    }

    private func detachLocked(_ replicaID: String) async {
        guard let replica = replicas.removeValue(forKey: replicaID) else { return }
        let attachment = replica.attachment
        environments[replica.environmentID]?.replicaIDs.remove(replicaID)
        if let ip = SystemTool.locate("ip") { await removeKernelObjects(of: attachment, ip: ip) }
        if attachment.egress, let environment = environments[replica.environmentID], let firewall = ForwardingFirewall(names: names) {
            await firewall.removeEgress(address: attachment.address, bridge: environment.network.bridge)
            environments[replica.environmentID]?.egressReplicaIDs.remove(replicaID)
            if environments[replica.environmentID]?.egressReplicaIDs.isEmpty == true {
                await firewall.removeMasquerade(subnet: environment.network.subnet, bridge: environment.network.bridge)
            }
        }
        logger.info("replica detached", metadata: ["replica.id": "\(replicaID)", "network.address": "\(attachment.address)"])
    }

    /// Deletes the host veth first: a namespace that still holds processes outlives
    /// `ip netns del`, and would keep its end of the pair (and so the bridge port) alive.
    private func removeKernelObjects(of attachment: ReplicaAttachment, ip: String) async {
        await runLoggingFailure(SystemCommand(ip, ["link", "del", attachment.hostVeth]), ignoring: "Cannot find device")
        await runLoggingFailure(SystemCommand(ip, ["netns", "del", attachment.namespace]), ignoring: "No such file")
    }

    private func runLoggingFailure(_ command: SystemCommand, ignoring expected: String) async {
        do {
            let result = try await command.result()
            if !result.succeeded, !result.standardError.contains(expected) {
                logger.warning("network cleanup step failed", metadata: ["error": "\(command.failure(result).message)"])
            }
        } catch {
            logger.warning("network cleanup step failed", metadata: ["error": "\(error)"])
        }
    }

    private func installFirewall(_ firewall: ForwardingFirewall) async throws {
        guard !firewallInstalled else { return }
        try await firewall.install()
        firewallInstalled = true
    }

    private func enableForwarding() async throws {
        let path = "/proc/sys/net/ipv4/ip_forward"
        let current = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard current != "1" else { return }
        guard Self.writeSysctl(path, "1") else {
            throw YardError(
                .unavailable, "could not switch on IPv4 forwarding (\(path)), which egress needs; is yard serve running as root?")
        }
        enabledForwarding = true
        Self.markForwardingEnabled(prefix: names.prefix, true)
        logger.notice(
            "switched on IPv4 forwarding for replica egress; forwarding between environments is rejected by the \(names.forwardChain) iptables chain"
        )
    }

    /// Switches forwarding back off once no fabric masquerades any subnet, if this fabric switched it on.
    private func restoreForwardingIfUnused() async {
        guard enabledForwarding, !environments.values.contains(where: { !$0.egressReplicaIDs.isEmpty }) else { return }
        if let firewall = ForwardingFirewall(names: names), await firewall.anyMasqueradeInUse() { return }
        if Self.writeSysctl("/proc/sys/net/ipv4/ip_forward", "0") {
            enabledForwarding = false
            Self.markForwardingEnabled(prefix: names.prefix, false)
            logger.notice("switched IPv4 forwarding back off: no replica has egress")
        }
    }

    /// A file in /run (emptied at boot, as forwarding is reset) that says a fabric with this prefix
    /// switched forwarding on, so that `removeLeftovers` can switch it off after a crash.
    private static func forwardingMarker(prefix: String) -> String { "/run/yard-network/\(prefix).forwarding-enabled" }

    private static func markForwardingEnabled(prefix: String, _ enabled: Bool) {
        let path = forwardingMarker(prefix: prefix)
        if enabled {
            try? FileManager.default.createDirectory(atPath: "/run/yard-network", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: Data())
        } else {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func metadata(_ network: EnvironmentNetwork) -> Logger.Metadata {
        ["environment.id": "\(network.environmentID)", "network.bridge": "\(network.bridge)", "network.subnet": "\(network.subnet)"]
    }

    private func metadata(_ attachment: ReplicaAttachment, environment: EnvironmentNetwork) -> Logger.Metadata {
        metadata(environment).merging(
            [
                "replica.id": "\(attachment.replicaID)", "network.namespace": "\(attachment.namespace)",
                "network.address": "\(attachment.address)", "network.egress": "\(attachment.egress)",
            ], uniquingKeysWith: { $1 })
    }

    // MARK: One operation at a time

    /// Operations await `ip`, and the actor would otherwise interleave them mid-way.
    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()  // hands the turn over; `busy` stays true
        }
    }

    // MARK: Host helpers

    static func ipTool() throws -> String {
        guard let ip = SystemTool.locate("ip") else { throw SystemTool.missing("ip", neededFor: "the private network") }
        return ip
    }

    /// Interfaces holding an address inside `subnet`.
    static func interfaces(using subnet: Subnet, ip: String) async throws -> [String] {
        let listing = try await SystemCommand(ip, ["-o", "-4", "addr", "show", "to", subnet.cidr]).run()
        return listing.standardOutput.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 1 ? String(fields[1]) : nil
        }
    }

    /// Every interface name on the host (veths listed as `name@peer` are cut at the `@`).
    static func interfaceNames(ip: String) async throws -> [String] {
        let listing = try await SystemCommand(ip, ["-o", "link", "show"]).run()
        return listing.standardOutput.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 1 else { return nil }
            let name = fields[1].split(separator: "@").first.map(String.init) ?? String(fields[1])
            return name.hasSuffix(":") ? String(name.dropLast()) : name
        }
    }

    @discardableResult
    static func writeSysctl(_ path: String, _ value: String) -> Bool {
        (try? value.write(toFile: path, atomically: false, encoding: .utf8)) != nil
    }
}
