import Foundation
import Logging
import Testing
import YardControl
import YardCore
import YardRouter
import YardServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The whole server started in-process, as `yard serve --runtime plain` would: no root, no
/// sandbox, ports picked by the kernel, a temporary data directory.
@Suite("the server in-process")
struct SwitchyardServerTests {
    struct Response {
        var status: Int
        var body: Data
    }

    func request(_ method: String, _ url: String, token: String?, json: String? = nil) async throws -> Response {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
    }

    @Test("starts on a temp data dir, creates a project over HTTP, keeps it, and stops cleanly")
    func startCreateStop() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-inprocess-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        var orchestrator = Orchestrator.Configuration(
            dataDirectory: dataDirectory, baseDomain: "localhost", platformExecutable: "/bin/false", hostEnvironment: [:])
        orchestrator.tcpProxyPorts = 20000...20000
        var configuration = SwitchyardServer.Configuration(
            orchestrator: orchestrator, router: Router.Configuration(host: "127.0.0.1", port: 0))
        configuration.httpsPort = nil
        configuration.apiPort = 0
        configuration.runtime = .plain
        configuration.stopsOnSignals = false
        var logger = Logger(label: "switchyard-test")
        logger.logLevel = .warning
        let server = SwitchyardServer(configuration: configuration, logger: logger)

        let (ready, readyContinuation) = AsyncStream.makeStream(of: SwitchyardServer.Endpoints.self)
        let running = Task { try await server.run { readyContinuation.yield($0) } }
        var readyIterator = ready.makeAsyncIterator()
        guard let endpoints = await readyIterator.next() else {
            try await running.value
            Issue.record("the server stopped before it was ready")
            return
        }
        #expect(endpoints.apiPort > 0)
        #expect(endpoints.routerPort > 0)
        #expect(endpoints.isolation.hasPrefix("none"), "\(endpoints.isolation)")

        let unauthenticated = try await request("GET", "\(endpoints.apiURL)/v1/projects", token: nil)
        #expect(unauthenticated.status == 401)
        let created = try await request(
            "POST", "\(endpoints.apiURL)/v1/projects", token: endpoints.adminToken, json: #"{"name": "inprocess"}"#)
        #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
        let project = try YardJSON.decoder().decode(ProjectView.self, from: created.body)
        #expect(project.name == "inprocess")
        let listed = try await request("GET", "\(endpoints.apiURL)/v1/projects", token: endpoints.adminToken)
        #expect(try YardJSON.decoder().decode([ProjectView].self, from: listed.body).map(\.id) == [project.id])

        let stopping = ContinuousClock.now
        await server.shutdown()
        try await running.value
        let stopTime = ContinuousClock.now - stopping
        #expect(stopTime < .seconds(10), "graceful shutdown took \(stopTime)")
        await #expect(throws: (any Error).self, "the API no longer listens") {
            _ = try await request("GET", "\(endpoints.apiURL)/v1/health", token: nil)
        }
        #expect(FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("admin.token").path))
    }
}
