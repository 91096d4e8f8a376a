import YardRuntime

/// An edge on any node (`yard edge`) reaches a replica where its relay points: its task's
/// node address and published port; a replica whose task refused the relay is left out.
extension SwarmRuntime: EdgeAddresses {
    public func edgeAddresses() async -> [String: EdgeAddress] {
        relayTargets.filter { !unreachable.contains($0.key) }.mapValues { EdgeAddress(host: $0.host, port: $0.port) }
    }
}
