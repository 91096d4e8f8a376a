import Foundation
import Testing
import YardCore
import YardStore

@Suite("SQLite store: TCP proxies")
struct TCPProxyStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-store-tcp-\(UUID().uuidString)")

    @Test("one host port per service port and one service port per host port; kept across a reopen; gone with the environment")
    func proxies() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let staging = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id).environment
        let (postgres, _) = try store.createDatabaseService(
            projectID: project.id, environmentID: production.id, name: "Postgres", kind: .postgres,
            variables: DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: "pw"))
        let proxy = TCPProxyRecord(
            serviceID: postgres.id, environmentID: production.id, targetPort: 5432, hostPort: 20000, createdAt: Date())
        try store.addTCPProxy(proxy)
        let samePort = #expect(throws: YardError.self) {
            try store.addTCPProxy(
                TCPProxyRecord(serviceID: postgres.id, environmentID: production.id, targetPort: 5432, hostPort: 20001, createdAt: Date()))
        }
        #expect(samePort?.message.contains("already has a TCP proxy (host port 20000)") == true)
        let sameHostPort = #expect(throws: YardError.self) {
            try store.addTCPProxy(
                TCPProxyRecord(serviceID: postgres.id, environmentID: staging.id, targetPort: 5432, hostPort: 20000, createdAt: Date()))
        }
        #expect(sameHostPort?.message.contains("host port 20000 is already a TCP proxy") == true)
        try store.addTCPProxy(
            TCPProxyRecord(serviceID: postgres.id, environmentID: staging.id, targetPort: 5432, hostPort: 20001, createdAt: Date()))

        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.tcpProxies(serviceID: postgres.id, environmentID: production.id).map(\.hostPort) == [20000])
        #expect(try reopened.allTCPProxies().map(\.hostPort) == [20000, 20001])
        _ = try reopened.deleteEnvironment(id: staging.id)
        #expect(try reopened.allTCPProxies().map(\.hostPort) == [20000])
        #expect(try reopened.removeTCPProxy(serviceID: postgres.id, environmentID: production.id, targetPort: 5432))
        #expect(try !reopened.removeTCPProxy(serviceID: postgres.id, environmentID: production.id, targetPort: 5432))
        #expect(try reopened.allTCPProxies().isEmpty)
    }
}
