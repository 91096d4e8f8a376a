import YardCore
import YardRuntime

/// The iptables rules that keep environments apart when the host forwards packets, and
/// give egress to the replicas that ask for it.
///
/// Everything lives in two chains of our own, jumped to first from FORWARD and POSTROUTING:
///
///     <P>-FORWARD:     -i <bridge> -o <bridge> ACCEPT        (same environment, seen here when br_netfilter is loaded)
///                      -s <replica> -i <bridge> ! -o <P>b+ ACCEPT             (egress replica out, never to another bridge)
///                      -d <replica> -o <bridge> ! -i <P>b+ ESTABLISHED ACCEPT (its replies)
///                      -i <P>b+ REJECT                       (anything else from our bridges, e.g. to another environment)
///                      -o <P>b+ DROP                         (anything else into our bridges)
///     <P>-POSTROUTING: -s <subnet> ! -o <bridge> MASQUERADE  (per environment with an egress replica)
///     <P>-INPUT:       nothing from the bridges to the host but replies (`ForwardingFirewall+Host.swift`)
///
/// Accept rules are inserted at the top, the two catch-alls stay at the bottom; every accept
/// rule excludes other bridges itself, so their order does not matter.
struct ForwardingFirewall: Sendable {
    let iptables: String
    let names: NetworkNames

    init?(names: NetworkNames) {
        guard let iptables = SystemTool.locate("iptables") else { return nil }
        self.iptables = iptables
        self.names = names
    }

    /// Creates both chains and their jumps; idempotent.
    func install() async throws {
        try await ensureChain(names.forwardChain, table: "filter", jumpFrom: "FORWARD")
        try await ensureRule(
            ["-i", names.bridgePattern, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
            in: names.forwardChain, table: "filter", atTop: false)
        try await ensureRule(["-o", names.bridgePattern, "-j", "DROP"], in: names.forwardChain, table: "filter", atTop: false)
        try await ensureChain(names.masqueradeChain, table: "nat", jumpFrom: "POSTROUTING")
        try await installHostWall()
    }

    /// Removes both chains and their jumps, with every rule in them. Never throws: used in cleanup.
    func uninstall() async {
        for (chain, table, parent) in [
            (names.forwardChain, "filter", "FORWARD"), (names.masqueradeChain, "nat", "POSTROUTING"),
        ] {
            // A crash between two start-ups could have left more than one jump.
            for _ in 0..<8 {
                guard (try? await iptablesResult(["-t", table, "-D", parent, "-j", chain]))?.succeeded == true else { break }
            }
            _ = try? await iptablesResult(["-t", table, "-F", chain])
            _ = try? await iptablesResult(["-t", table, "-X", chain])
        }
        await uninstallHostWall()
    }

    func allowWithinBridge(_ bridge: String) async throws {
        try await ensureRule(bridgeRule(bridge), in: names.forwardChain, table: "filter", atTop: true)
    }

    func removeWithinBridge(_ bridge: String) async {
        await removeRule(bridgeRule(bridge), in: names.forwardChain, table: "filter")
    }

    func allowEgress(address: String, bridge: String) async throws {
        for rule in egressRules(address: address, bridge: bridge) {
            try await ensureRule(rule, in: names.forwardChain, table: "filter", atTop: true)
        }
    }

    func removeEgress(address: String, bridge: String) async {
        for rule in egressRules(address: address, bridge: bridge) {
            await removeRule(rule, in: names.forwardChain, table: "filter")
        }
    }

    func masquerade(subnet: Subnet, bridge: String) async throws {
        try await ensureRule(masqueradeRule(subnet: subnet, bridge: bridge), in: names.masqueradeChain, table: "nat", atTop: false)
    }

    func removeMasquerade(subnet: Subnet, bridge: String) async {
        await removeRule(masqueradeRule(subnet: subnet, bridge: bridge), in: names.masqueradeChain, table: "nat")
    }

    /// Whether any fabric (any prefix, any `--private-network-octet`) still masquerades a subnet,
    /// so forwarding must stay on: another server's builds and egress replicas need it.
    func anyMasqueradeInUse() async -> Bool {
        guard let listing = try? await iptablesResult(["-t", "nat", "-S"]), listing.succeeded else { return true }
        return listing.standardOutput.split(separator: "\n").contains { line in
            let words = line.split(separator: " ")
            return words.count > 3 && words[0] == "-A" && words[1].hasSuffix("-POSTROUTING") && words[2] == "-s"
                && words[3].hasPrefix("10.") && line.contains("-j MASQUERADE")
        }
    }

    // MARK: Rules

    private func bridgeRule(_ bridge: String) -> [String] { ["-i", bridge, "-o", bridge, "-j", "ACCEPT"] }

    private func egressRules(address: String, bridge: String) -> [[String]] {
        [
            ["-s", "\(address)/32", "-i", bridge, "!", "-o", names.bridgePattern, "-j", "ACCEPT"],
            [
                "-d", "\(address)/32", "!", "-i", names.bridgePattern, "-o", bridge,
                "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT",
            ],
        ]
    }

    private func masqueradeRule(subnet: Subnet, bridge: String) -> [String] {
        ["-s", subnet.cidr, "!", "-o", bridge, "-j", "MASQUERADE"]
    }

    // MARK: iptables

    private func ensureChain(_ chain: String, table: String, jumpFrom parent: String) async throws {
        if try await !iptablesResult(["-t", table, "-S", chain]).succeeded {
            try await iptables(["-t", table, "-N", chain])
        }
        if try await !iptablesResult(["-t", table, "-C", parent, "-j", chain]).succeeded {
            try await iptables(["-t", table, "-I", parent, "1", "-j", chain])
        }
    }

    private func ensureRule(_ rule: [String], in chain: String, table: String, atTop: Bool) async throws {
        if try await iptablesResult(["-t", table, "-C", chain] + rule).succeeded { return }
        try await iptables(["-t", table] + (atTop ? ["-I", chain, "1"] : ["-A", chain]) + rule)
    }

    private func removeRule(_ rule: [String], in chain: String, table: String) async {
        _ = try? await iptablesResult(["-t", table, "-D", chain] + rule)
    }

    private func iptables(_ arguments: [String]) async throws {
        try await SystemCommand(iptables, ["-w"] + arguments).run()
    }

    private func iptablesResult(_ arguments: [String]) async throws -> CommandResult {
        try await SystemCommand(iptables, ["-w"] + arguments).result()
    }
}
