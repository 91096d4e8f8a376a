import YardCore
import YardRouter
import YardRuntime

extension Orchestrator {
    /// The router's table as an edge on any node serves it: the same hosts, the same ready
    /// replicas (health gating, draining and cutover stay the orchestrator's), each at the
    /// address every node reaches it on. An error on a runtime of one machine.
    public func edgeRoutes() async throws -> EdgeRouteTableView {
        guard let runtime = runtime as? any EdgeAddresses else {
            throw YardError(.conflict, "this server runs replicas on one machine: an edge on another node needs yard serve --runtime swarm")
        }
        let addresses = await runtime.edgeAddresses()
        let routes = router.routes.allRoutes.map { route in
            EdgeRouteView(
                host: route.host, pathPrefix: route.pathPrefix,
                upstreams: route.upstreams.compactMap { upstream in
                    addresses[upstream.replicaID].map { EdgeUpstreamView(host: $0.host, port: $0.port, replica: upstream.replicaID) }
                },
                waitsForReplicas: route.waitsForReplicas)
        }
        return EdgeRouteTableView(routes: routes.sorted { ($0.host, $0.pathPrefix ?? "") < ($1.host, $1.pathPrefix ?? "") })
    }
}
