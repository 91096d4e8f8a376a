import YardCore
import YardRuntime

/// The wall between swarm tasks on one node. Besides its environment's overlay network, every
/// task has an address on the node's `docker_gwbridge` (its egress, and where its published
/// port is forwarded to). Swarm keeps environments apart there only with the iptables rules of
/// a daemon that writes them; with `--iptables=false`, or through the ports every task
/// publishes on its node for the relays, a task could open a connection to another
/// environment's task. These rules, in two chains of our own jumped to first, stop that:
///
///     <P>-SWIN:  -i docker_gwbridge ESTABLISHED,RELATED ACCEPT  (replies to the node: the relay's
///                                                               docker-proxy, health checks)
///                -i docker_gwbridge -p tcp --dport <edge> ACCEPT (a public URL through this node's edge)
///                -i docker_gwbridge REJECT                       (the node itself: published ports, the API)
///     <P>-SWFWD: -i docker_gwbridge ESTABLISHED,RELATED ACCEPT  (replies to another node's edge)
///                -i docker_gwbridge -o docker_gwbridge DROP      (task to task on the node, bridged:
///                                                               seen here through br_netfilter)
///                -i docker_gwbridge -d <node> -p tcp --dport <edge> ACCEPT
///                -i docker_gwbridge -d <node> REJECT             (another node's published ports)
///
/// The relays and edges connect from the nodes' own addresses, never from the bridge, and
/// overlay traffic (VXLAN) leaves from the node itself, so neither is touched; egress to
/// other addresses is forwarded as before. `yard serve` installs them on its own node
/// (`SwarmRuntime`) and removes them at shutdown; every other node needs them too
/// (`yard node isolate` there).
public struct SwarmIsolation: Sendable {
    public static let bridge = "docker_gwbridge"

    /// Chain names start with it (upper-cased), so two servers' rules do not meet.
    public var prefix: String
    /// Ports of the edge tasks may reach on a node (a service's public URL through it).
    public var edgePorts: [Int]
    /// The swarm's node addresses: forwarded traffic from a task to them is rejected.
    public var nodeAddresses: [String]
    /// The network namespace to write the rules in (`/proc/PID/ns/net`); nil: this process's.
    public var networkNamespace: String?

    public init(prefix: String, edgePorts: [Int] = [], nodeAddresses: [String] = [], networkNamespace: String? = nil) {
        self.prefix = prefix
        self.edgePorts = edgePorts
        self.nodeAddresses = nodeAddresses
        self.networkNamespace = networkNamespace
    }

    var inputChain: String { String(prefix.uppercased().prefix(20)) + "-SWIN" }
    var forwardChain: String { String(prefix.uppercased().prefix(20)) + "-SWFWD" }

    var inputRules: [[String]] {
        let bridge = ["-i", Self.bridge]
        return [bridge + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]]
            + edgePorts.map { bridge + ["-p", "tcp", "--dport", "\($0)", "-j", "ACCEPT"] }
            + [bridge + ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]]
    }

    var forwardRules: [[String]] {
        let bridge = ["-i", Self.bridge]
        return [
            bridge + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            bridge + ["-o", Self.bridge, "-j", "DROP"],
        ]
            + nodeAddresses.sorted().flatMap { address in
                edgePorts.map { bridge + ["-d", address, "-p", "tcp", "--dport", "\($0)", "-j", "ACCEPT"] }
                    + [bridge + ["-d", address, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]]
            }
    }

    /// Writes both chains (replacing what they held) and jumps to them first from INPUT and
    /// FORWARD; idempotent.
    public func install() async throws {
        try await fill(inputChain, inputRules, from: "INPUT")
        try await fill(forwardChain, forwardRules, from: "FORWARD")
    }

    /// Removes both chains and their jumps. Never throws: used in cleanup.
    public func remove() async {
        for (chain, parent) in [(inputChain, "INPUT"), (forwardChain, "FORWARD")] {
            for _ in 0..<8 {
                guard (try? await iptables(["-D", parent, "-j", chain]))?.succeeded == true else { break }
            }
            _ = try? await iptables(["-F", chain])
            _ = try? await iptables(["-X", chain])
        }
    }

    /// The rules of both chains as `iptables -S` prints them (tests, `yard node isolate`).
    public func listed() async throws -> String {
        var text = ""
        for chain in [inputChain, forwardChain] {
            let result = try await iptables(["-S", chain])
            text += result.succeeded ? result.standardOutput : ""
        }
        return text
    }

    private func fill(_ chain: String, _ rules: [[String]], from parent: String) async throws {
        if try await !iptables(["-S", chain]).succeeded {
            try await check(iptables(["-N", chain]), "create chain \(chain)")
        }
        try await check(iptables(["-F", chain]), "flush chain \(chain)")
        for rule in rules {
            try await check(iptables(["-A", chain] + rule), "add a rule to \(chain)")
        }
        if try await !iptables(["-C", parent, "-j", chain]).succeeded {
            try await check(iptables(["-I", parent, "1", "-j", chain]), "jump from \(parent) to \(chain)")
        }
    }

    private func check(_ result: CommandResult, _ what: String) throws {
        guard result.succeeded else {
            throw YardError(.internal, "swarm isolation: could not \(what): \(result.standardError.prefix(300))")
        }
    }

    private func iptables(_ arguments: [String]) async throws -> CommandResult {
        guard let iptables = SystemTool.locate("iptables") else {
            throw SystemTool.missing("iptables", neededFor: "keeping swarm environments apart")
        }
        guard let namespace = networkNamespace else { return try await SystemCommand(iptables, ["-w"] + arguments).result() }
        guard let nsenter = SystemTool.locate("nsenter") else {
            throw SystemTool.missing("nsenter", neededFor: "keeping swarm environments apart")
        }
        return try await SystemCommand(nsenter, ["--net=\(namespace)", iptables, "-w"] + arguments).result()
    }
}
