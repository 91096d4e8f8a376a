import Foundation
import YardCore
import YardStore

/// Railway's TCP proxy (`yard domain --tcp`): a host port on the proxy's address forwards
/// to a service port. The ports live in the store, so they come back after a restart.
extension Orchestrator {
    /// Gives `targetPort` of the service a host port from `tcpProxyPorts`, opens it, and sets
    /// the public URL variable of a database (sealed, like its private URL).
    public func addTCPProxy(serviceID: String, environmentID: String, targetPort: Int) async throws -> TCPProxyRecord {
        guard (1...65535).contains(targetPort) else {
            throw YardError(.invalidInput, "\(targetPort) is not a TCP port (1-65535)")
        }
        let service = try store.service(id: serviceID)
        if let existing = try store.tcpProxies(serviceID: serviceID, environmentID: environmentID)
            .first(where: { $0.targetPort == targetPort })
        {
            return existing
        }
        let taken = Set(try store.allTCPProxies().map(\.hostPort))
        var chosen: Int?
        // The first port of the range that no proxy has and that can be bound now.
        for port in configuration.tcpProxyPorts where !taken.contains(port) {
            // Another add may have opened it meanwhile (this actor is reentrant at each await).
            guard (try? await tcpProxy.open(port: port)) == true else { continue }
            chosen = port
            break
        }
        guard let hostPort = chosen else {
            throw YardError(
                .unavailable,
                "no free host port left for a TCP proxy in \(configuration.tcpProxyPorts.lowerBound)-"
                    + "\(configuration.tcpProxyPorts.upperBound): remove one (yard domain remove --tcp) or widen yard serve --tcp-proxy-ports"
            )
        }
        let proxy = TCPProxyRecord(
            serviceID: serviceID, environmentID: environmentID, targetPort: targetPort,
            hostPort: hostPort, createdAt: Date())
        do {
            try store.addTCPProxy(proxy)
        } catch {
            await tcpProxy.close(port: hostPort)
            throw error
        }
        updateTCPProxyUpstreams()
        try setPublicURL(service: service, environmentID: environmentID)
        logger.info(
            "TCP proxy added",
            metadata: [
                "service.name": "\(service.name)", "proxy.port": "\(hostPort)",
                "proxy.target": "\(targetPort)",
            ])
        return proxy
    }

    /// Closes a service's TCP proxy of `targetPort` (its only one when nil), with the
    /// connections open through it, and drops the public URL variable it set.
    public func removeTCPProxy(serviceID: String, environmentID: String, targetPort: Int?) async throws -> TCPProxyRecord {
        let service = try store.service(id: serviceID)
        let proxies = try store.tcpProxies(serviceID: serviceID, environmentID: environmentID)
        let proxy: TCPProxyRecord
        if let targetPort {
            guard let found = proxies.first(where: { $0.targetPort == targetPort }) else {
                throw YardError(
                    .notFound,
                    "\(service.name) has no TCP proxy to port \(targetPort)"
                        + (proxies.isEmpty ? "" : "; it has one to \(proxies.map { String($0.targetPort) }.joined(separator: ", "))"))
            }
            proxy = found
        } else {
            guard let only = proxies.first else { throw YardError(.notFound, "\(service.name) has no TCP proxy") }
            guard proxies.count == 1 else {
                throw YardError(
                    .invalidInput,
                    "\(service.name) has TCP proxies to ports "
                        + "\(proxies.map { String($0.targetPort) }.joined(separator: ", ")): say which with --tcp PORT")
            }
            proxy = only
        }
        try store.removeTCPProxy(serviceID: serviceID, environmentID: environmentID, targetPort: proxy.targetPort)
        await tcpProxy.close(port: proxy.hostPort)
        try setPublicURL(service: service, environmentID: environmentID)
        logger.info("TCP proxy removed", metadata: ["service.name": "\(service.name)", "proxy.port": "\(proxy.hostPort)"])
        return proxy
    }

    public func tcpProxies(serviceID: String, environmentID: String) throws -> [TCPProxyRecord] {
        try store.tcpProxies(serviceID: serviceID, environmentID: environmentID)
    }

    /// Opens the stored proxies and closes the ports no proxy has any more (after a
    /// restart, after an environment was deleted). A port that cannot be bound is logged.
    func reconcileTCPProxies() async {
        guard let proxies = try? store.allTCPProxies() else { return }
        let wanted = Set(proxies.map(\.hostPort))
        for port in tcpProxy.openPorts.subtracting(wanted) { await tcpProxy.close(port: port) }
        for proxy in proxies {
            do {
                try await tcpProxy.open(port: proxy.hostPort)
            } catch {
                logger.error("TCP proxy could not be reopened", metadata: ["proxy.port": "\(proxy.hostPort)", "error": "\(error)"])
            }
        }
        updateTCPProxyUpstreams()
    }

    /// A database's public URL variable follows its TCP proxy to the server's port: set
    /// (sealed) while there is one, deleted when there is none.
    private func setPublicURL(service: ServiceRecord, environmentID: String) throws {
        guard let kind = service.database else { return }
        let stored = try store.variables(serviceID: service.id, environmentID: environmentID)
        let values = Dictionary(stored.map { ($0.key, $0.value) }) { first, _ in first }
        let serverPort = Int(values[kind.portVariable] ?? "") ?? kind.port
        let proxies = try store.tcpProxies(serviceID: service.id, environmentID: environmentID)
        // Plain processes share the host's ports: the proxy reaches the server whatever port was named.
        let proxy = proxies.first { $0.targetPort == serverPort || !runtime.addressing.isOwnAddress } ?? proxies.first { $0.targetPort == kind.port }
        if let proxy, let variable = kind.publicURL(variables: values, host: tcpProxy.host, port: proxy.hostPort) {
            try store.changeVariables(
                serviceID: service.id, environmentID: environmentID, set: [variable.key: variable.value],
                delete: [], sealed: [variable.key])
        } else if values[kind.publicURLVariable] != nil {
            try store.changeVariables(
                serviceID: service.id, environmentID: environmentID, set: [:],
                delete: [kind.publicURLVariable])
        }
    }

    /// What `yard connect` needs: the database's credentials and its TCP proxy's address (nil
    /// without one). Carries the password: only the `connect` route returns it.
    public func databaseConnection(serviceID: String, environmentID: String) throws -> DatabaseConnectionView {
        let service = try store.service(id: serviceID)
        guard let kind = service.database else {
            throw YardError(
                .invalidInput,
                "\(service.name) is not a database service: `yard connect` opens psql, redis-cli or "
                    + "mysql against one added with `yard add --database`")
        }
        let stored = try store.variables(serviceID: serviceID, environmentID: environmentID)
        let values = Dictionary(stored.map { ($0.key, $0.value) }) { first, _ in first }
        guard let (user, password, database) = kind.credentials(in: values) else {
            throw YardError(.invalidConfig, "\(service.name) lacks its user or password variable in this environment")
        }
        let serverPort = Int(values[kind.portVariable] ?? "") ?? kind.port
        let proxies = try store.tcpProxies(serviceID: serviceID, environmentID: environmentID)
        let proxy = proxies.first { $0.targetPort == serverPort || !runtime.addressing.isOwnAddress } ?? proxies.first { $0.targetPort == kind.port }
        return DatabaseConnectionView(
            database: kind, host: proxy.map { _ in tcpProxy.host }, port: proxy?.hostPort,
            user: user, password: password, databaseName: database, publicURL: proxy.flatMap { _ in values[kind.publicURLVariable] })
    }
}
