import Foundation
import Testing
import YardClient
import YardCore

/// A `PORT` the user sets is the port the app listens on and the one traffic goes to, as on
/// Railway; plain processes, which share the host's ports, keep a port per replica and say so.
@Suite("a user-set PORT end to end", .serialized)
struct UserPortEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "fixed", environment: "production", service: "fixed")
    static let host = "fixed-fixed.localhost"

    struct Answer: Decodable {
        var listening: Int
        var environment: [String: String]
    }

    @Test("PORT=8080 and an app listening only on 8080: two replicas and a redeploy pass their health checks and answer through the router; the app, RAILWAY_* and yard status show 8080",
          .timeLimit(.minutes(8)))
    func userPortIsUsedOnTheSandboxRuntime() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("fixed-port", project: "fixed")
            let set = try await server.yard(["variables", "--set", "PORT=8080"], in: folder)
            try #require(set.status == 0, "\(set.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)\n\(server.serveLog)")
            let client = try server.client()

            for round in ["first deploy", "redeploy"] {
                if round == "redeploy" {
                    // The new replicas listen on 8080 while the old ones still do: each has its own address.
                    let redeploy = try await server.yard(["redeploy"], in: folder)
                    try #require(redeploy.status == 0, "\(redeploy.outputTail)")
                }
                let live = try #require(try await client.deployments(Self.scope).first)
                #expect(live.status == .success, "\(round): \(live.status) \(live.reason ?? "")")
                #expect(live.replicas.count == 2 && live.replicas.allSatisfy { $0.port == 8080 }, "\(round): \(live.replicas)")
                #expect(Set(live.replicas.compactMap(\.address)).count == 2, "\(round): each replica has its own address: \(live.replicas)")

                var served: Set<String> = []
                for _ in 0..<8 {
                    let answer = try await server.get(host: Self.host)
                    try #require(answer.status == 200, "\(round): \(answer)")
                    let app = try JSONDecoder().decode(Answer.self, from: Data(answer.body.utf8))
                    #expect(app.listening == 8080)
                    #expect(app.environment["PORT"] == "8080", "\(round): \(app.environment)")
                    #expect(app.environment["RAILWAY_PUBLIC_DOMAIN"] == Self.host, "\(app.environment)")
                    #expect(app.environment["RAILWAY_DEPLOYMENT_ID"] == live.id, "\(round): \(app.environment)")
                    if let replica = app.environment["RAILWAY_REPLICA_ID"] { served.insert(replica) }
                }
                #expect(served == Set(live.replicas.map(\.id)), "\(round): both replicas answer")

                let status = try await server.yard(["status"], in: folder)
                #expect(status.status == 0, "\(status.output)")
                for replica in live.replicas {
                    #expect(status.stdout.contains("\(replica.address ?? "-"):8080"), "\(round): \(status.stdout)")
                }
            }
            // The variable stays as the user set it.
            let variables = try await server.yard(["variables"], in: folder)
            #expect(variables.stdout.contains("PORT=8080"), "\(variables.stdout)")
        }
    }

    @Test("plain processes: PORT=8080 cannot be shared, so each replica keeps its own PORT and the deploy log says why; a PORT that is not a port fails the deploy naming it",
          .timeLimit(.minutes(8)))
    func userPortOnThePlainRuntime() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let folder = try await server.prepareApp("fixed-port", project: "fixed")
            try #require(try await server.yard(["variables", "--set", "PORT=8080", "--set", "LISTEN_ON=PORT"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)\n\(server.serveLog)")
            let client = try server.client()
            let live = try #require(try await client.deployments(Self.scope).first)
            #expect(live.replicas.count == 2 && live.replicas.allSatisfy { $0.port != 8080 }, "\(live.replicas)")
            #expect(Set(live.replicas.map(\.port)).count == 2, "\(live.replicas)")
            let answer = try await server.get(host: Self.host)
            #expect(answer.status == 200, "\(answer)")
            let app = try JSONDecoder().decode(Answer.self, from: Data(answer.body.utf8))
            #expect(live.replicas.map(\.port).contains(app.listening) && app.environment["PORT"] == String(app.listening), "\(app)")
            var lines: [String] = []
            try await client.logs(deploymentID: live.id, kind: .deploy, follow: false) { lines.append($0.message) }
            #expect(lines.contains { $0.contains("PORT=8080 is set, but with `yard serve --runtime plain`") }, "\(lines)")

            try #require(try await server.yard(["variables", "--set", "PORT=eighty", "--skip-deploys"], in: folder).status == 0)
            let redeploy = try await server.yard(["redeploy"], in: folder)
            #expect(redeploy.status != 0)
            #expect(redeploy.output.contains("the PORT variable is 'eighty', which is not a TCP port"), "\(redeploy.outputTail)")
            // The live deployment keeps serving.
            #expect(try await server.get(host: Self.host).status == 200)
        }
    }
}
