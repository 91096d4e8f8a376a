import YardCore
import YardRuntime

/// The wall between the boxes and the host itself: nothing that comes in from a bridge may open
/// a connection to the host (a service bound to 0.0.0.0, the API, the database servers the
/// platform runs for itself), only answer one the host opened (health checks, the proxy).
///
///     <P>-INPUT: -i <P>b+ ESTABLISHED,RELATED ACCEPT
///                -i <P>b+ REJECT
///
/// The platform needs nothing from the boxes on the host: DNS goes to the host's resolver
/// through egress (forwarded, not INPUT), and the router connects to replicas, never back.
extension ForwardingFirewall {
    var inputChain: String { names.prefix.uppercased() + "-INPUT" }

    var hostRules: [[String]] {
        [
            ["-i", names.bridgePattern, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["-i", names.bridgePattern, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
        ]
    }

    /// Creates the INPUT chain, its jump and its two rules; idempotent.
    func installHostWall() async throws {
        if try await !SystemCommand(iptables, ["-w", "-S", inputChain]).result().succeeded {
            try await SystemCommand(iptables, ["-w", "-N", inputChain]).run()
        }
        for rule in hostRules where try await !SystemCommand(iptables, ["-w", "-C", inputChain] + rule).result().succeeded {
            try await SystemCommand(iptables, ["-w", "-A", inputChain] + rule).run()
        }
        if try await !SystemCommand(iptables, ["-w", "-C", "INPUT", "-j", inputChain]).result().succeeded {
            try await SystemCommand(iptables, ["-w", "-I", "INPUT", "1", "-j", inputChain]).run()
        }
    }

    /// Removes the INPUT chain and its jumps. Never throws: used in cleanup.
    func uninstallHostWall() async {
        for _ in 0..<8 {
            guard (try? await SystemCommand(iptables, ["-w", "-D", "INPUT", "-j", inputChain]).result())?.succeeded == true
            else { break }
        }
        _ = try? await SystemCommand(iptables, ["-w", "-F", inputChain]).result()
        _ = try? await SystemCommand(iptables, ["-w", "-X", inputChain]).result()
    }
}
