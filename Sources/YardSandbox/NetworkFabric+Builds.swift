import Foundation
import YardCore
import YardRuntime

/// Build steps get a network of their own: one bridge for every build of the server, a
/// namespace per build, egress to the outside (package registries) and nothing else.
///
/// The bridge is an environment bridge like the others, so the firewall treats it the same: no
/// forwarding to another environment's bridge, nothing to the host (the INPUT wall). Its ports
/// are isolated, so two builds running at once cannot reach each other either. The host's
/// loopback (the API) is out of reach: a namespace has its own `lo`.
extension NetworkFabric {
    /// The environment id the build bridge is kept under (not a real environment).
    public static let buildEnvironmentID = "switchyard-builds"
    /// The subnet index of the build bridge: above the 1…250 the store gives environments.
    public static let buildSubnetIndex = 254

    /// Creates the namespace a build's steps run in; `detach(replicaID: buildID)` removes it.
    public func attachBuild(buildID: String, base: Int) async throws -> ReplicaAttachment {
        _ = try await ensureEnvironment(environmentID: Self.buildEnvironmentID, subnet: Subnet(index: Self.buildSubnetIndex, base: base))
        let attachment = try await attach(replicaID: buildID, environmentID: Self.buildEnvironmentID, egress: true)
        do {
            try await SystemCommand(try Self.ipTool(), ["link", "set", "dev", attachment.hostVeth, "type", "bridge_slave", "isolated", "on"]).run()
        } catch {
            await detach(replicaID: buildID)
            throw error
        }
        return attachment
    }
}
