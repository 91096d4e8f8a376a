import Foundation
import Testing
import YardClient
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 13, the edge and the API: each test performs the attacks against a real `yard serve`
/// (sandbox runtime) and checks they fail and that nothing outside the box changed. One
/// server per test; each test runs several attacks against it.
@Suite("security: edge and API end to end", .serialized)
struct SecurityEdgeEndToEndTests {
    static let zero = String(repeating: "0", count: 40)

    // MARK: 13.3 git option injection, 13.15 webhooks

    @Test(
        "git push reports with options for old/new/ref are refused and write nothing; webhooks answer one 401, refuse replays, and their exemption is that route only",
        .timeLimit(.minutes(6)))
    func gitAndWebhookAttacks() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with { server in
            let repo = server.root.appendingPathComponent("apps/inject")
            try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
            try "web: python3 -m http.server $PORT\n".write(to: repo.appendingPathComponent("Procfile"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["init", "--name", "inject"], in: repo).status == 0)
            try GitPushEndToEndTests.git(["init", "--quiet", "--initial-branch=main"], in: repo)
            try GitPushEndToEndTests.git(["add", "."], in: repo)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-m", "attacker controlled line"], in: repo)
            let head = try GitPushEndToEndTests.git(["rev-parse", "HEAD"], in: repo).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let remote = try await server.yard(["git", "remote", "--with-token"], in: repo)
            let pushURL = remote.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // Pushed before any service follows main, so nothing deploys; then linked, so a
            // report for main reaches git.
            let pushed = try GitPushEndToEndTests.git(["push", pushURL, "main"], in: repo)
            #expect(pushed.output.contains("no service is linked to branch main"), "\(pushed.output)")
            let link = try await server.yard(["service", "link", "--branch", "main", "--service", "web"], in: repo)
            try #require(link.status == 0, "\(link.output)")
            let token = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)

            // 13.3: `--output=FILE` as new (git log) and as old (git diff) wrote a root-owned file.
            let targets = (1...4).map { server.root.appendingPathComponent("outside-\($0)") }
            let reports: [(ref: String, old: String, new: String, complaint: String)] = [
                ("refs/heads/main", Self.zero, "--output=\(targets[0].path)", "new '--output="),
                ("refs/heads/main", "--output=\(targets[1].path)", head, "old '--output="),
                ("refs/heads/main", head, "\(head) --output=\(targets[2].path)", "is not a full git object id"),
                ("refs/heads/--output=\(targets[3].path)", Self.zero, head, "is not a ref name git accepts"),
                ("refs/heads/main", Self.zero, "HEAD", "is not a full git object id"),
            ]
            for report in reports {
                let body = try JSONSerialization.data(withJSONObject: ["updates": [["ref": report.ref, "old": report.old, "new": report.new]]])
                let answer = try await Self.post(
                    server, "/v1/projects/inject/git/push", body: body, headers: [("Authorization", "Bearer \(token)")])
                #expect(answer.status == 400, "\(report): \(answer.status) \(answer.body)")
                #expect(answer.body.contains(report.complaint), "\(report): \(answer.body)")
            }
            for target in targets {
                #expect(!FileManager.default.fileExists(atPath: target.path), "git wrote \(target.path)")
            }
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "inject", environment: "production", service: "web")
            #expect(try await client.deployments(scope).isEmpty, "a refused report deployed something")

            // 13.15: an unknown project and a project without a secret answer the same 401.
            let event = Data(#"{"zen":"hi","hook_id":1}"#.utf8)
            let webhook = [("X-GitHub-Event", "ping"), ("Content-Type", "application/json")]
            let unknown = try await Self.post(
                server, "/v1/projects/no-such-project/webhooks/github", body: event,
                headers: webhook + [("X-GitHub-Delivery", "d-1"), (WebhookSignature.headerName, WebhookSignature.header(body: event, secret: "x"))])
            let noSecret = try await Self.post(
                server, "/v1/projects/inject/webhooks/github", body: event,
                headers: webhook + [("X-GitHub-Delivery", "d-1"), (WebhookSignature.headerName, WebhookSignature.header(body: event, secret: "x"))])
            #expect(unknown.status == 401 && noSecret.status == 401, "\(unknown) \(noSecret)")
            #expect(unknown.body == noSecret.body, "the answers tell the projects apart:\n\(unknown.body)\n\(noSecret.body)")
            #expect(!unknown.body.contains("no-such-project") && !noSecret.body.contains("inject"))

            // A signed delivery is accepted once; sent again (same id, or a new id with the same body) it is refused.
            let generated = try await server.yard(["webhook", "secret"], in: repo)
            let secret = try #require(
                generated.stdout.split(separator: "\n").first { $0.hasPrefix("Secret: ") }.map { String($0.dropFirst(8)) })
            let signed = webhook + [(WebhookSignature.headerName, WebhookSignature.header(body: event, secret: secret))]
            let first = try await Self.post(
                server, "/v1/projects/inject/webhooks/github", body: event, headers: signed + [("X-GitHub-Delivery", "delivery-1")])
            #expect(first.status == 200 && first.body.contains("pong"), "\(first)")
            for id in ["delivery-1", "delivery-2"] {
                let replay = try await Self.post(
                    server, "/v1/projects/inject/webhooks/github", body: event, headers: signed + [("X-GitHub-Delivery", id)])
                #expect(replay.status == 409 && replay.body.contains("replay"), "replay under \(id): \(replay)")
            }
            // The remembered deliveries survive a restart (they are in the store).
            await server.stop()
            try await server.start()
            let afterRestart = try await Self.post(
                server, "/v1/projects/inject/webhooks/github", body: event, headers: signed + [("X-GitHub-Delivery", "delivery-1")])
            #expect(afterRestart.status == 409, "\(afterRestart)")

            // The bearer exemption is the webhook route, not any POST path ending like it.
            let lookalike = try await Self.post(
                server, "/v1/projects/inject/environments/production/webhooks/github", body: event, headers: signed)
            #expect(lookalike.status == 401, "a look-alike path skipped the bearer token: \(lookalike)")
        }
    }

    // MARK: 13.13 forwarding headers, Upgrade tokens, 13.14 the local authority

    @Test(
        "the router replaces a client's forwarding headers, tunnels only WebSocket upgrades, and the local authority signs only the base domain",
        .timeLimit(.minutes(6)))
    func routerAndAuthorityAttacks() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("edge-echo", project: "edge")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let host = "edge-edge.localhost"

            // 13.13: spoofed client address headers never reach the replica.
            let spoofed = try await Self.raw(
                port: server.routerPort,
                "GET / HTTP/1.1\r\nHost: \(host)\r\nX-Forwarded-For: 203.0.113.66\r\nX-Real-IP: 203.0.113.66\r\n"
                    + "Forwarded: for=203.0.113.66\r\nX-Forwarded-Port: 1\r\nX-Forwarded-Host: admin.internal\r\nConnection: close\r\n\r\n")
            let seen = try Self.headers(inResponse: spoofed)
            #expect(seen["x-forwarded-for"] == ["127.0.0.1"], "\(seen)")
            #expect(seen["x-real-ip"] == ["127.0.0.1"], "\(seen)")
            #expect(seen["forwarded"] == nil, "\(seen)")
            #expect(seen["x-forwarded-port"] == [String(server.routerPort)], "\(seen)")
            #expect(seen["x-forwarded-host"] == [host], "\(seen)")
            #expect(!spoofed.contains("203.0.113.66"), "\(spoofed)")

            // Upgrade: a made-up token does not become a raw tunnel, even though the replica would say 101.
            for token in ["tunnel", "h2c"] {
                let answer = try await Self.raw(
                    port: server.routerPort,
                    "GET / HTTP/1.1\r\nHost: \(host)\r\nConnection: Upgrade\r\nUpgrade: \(token)\r\n\r\n",
                    then: "PING-AFTER-UPGRADE\r\n\r\n")
                #expect(!answer.hasPrefix("HTTP/1.1 101"), "\(token) was tunnelled: \(answer)")
                #expect(!answer.contains("RAW:PING-AFTER-UPGRADE"), "bytes after the \(token) request reached the replica raw: \(answer)")
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
                #expect(!(try Self.headers(inResponse: answer).keys.contains("upgrade")), "the replica saw the Upgrade header")
            }
            // WebSocket still passes (the replica agrees to it).
            let websocket = try await Self.raw(
                port: server.routerPort,
                "GET / HTTP/1.1\r\nHost: \(host)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                then: "hello")
            #expect(websocket.hasPrefix("HTTP/1.1 101") && websocket.contains("RAW:hello"), "\(websocket)")

            // 13.14: a routed name outside the base domain gets no certificate from the local authority.
            let add = try await server.yard(["domain", "add", "www.google.com"], in: folder)
            try #require(add.status == 0, "\(add.output)")
            let tls = server.dataDirectory.appendingPathComponent("tls")
            let handshake = try HTTPSEndToEndTests.curl(
                host: "www.google.com", port: server.httpsPort, trusting: tls.appendingPathComponent("ca.pem").path)
            #expect(handshake.status != 0, "a certificate for www.google.com was served: \(handshake.output)")
            let local = tls.appendingPathComponent("local")
            let issued = (try? FileManager.default.contentsOfDirectory(atPath: local.path)) ?? []
            #expect(issued.allSatisfy { !$0.contains("google") }, "issued: \(issued)")
            #expect(server.serveLog.contains("signs only names under localhost"), "\(YardServer.lastLines(of: server.serveLog, 20))")
            // The authority itself is constrained: even its key cannot vouch for another name.
            let constraints = try HTTPSEndToEndTests.run(
                "/usr/bin/openssl", ["x509", "-in", tls.appendingPathComponent("ca.pem").path, "-noout", "-ext", "nameConstraints"])
            #expect(constraints.output.contains("Permitted") && constraints.output.contains("DNS:localhost"), "\(constraints.output)")
            // The base domain is still served.
            let generated = try HTTPSEndToEndTests.curl(host: host, port: server.httpsPort, trusting: tls.appendingPathComponent("ca.pem").path)
            #expect(generated.status == 0 && generated.output.lowercased().contains("\"x-forwarded-proto\", \"https\""), "\(generated.output)")

            // Sealed values are bound to their row: another project's sealed value, copied into
            // this service's row by someone who can write the database but has no key, does not
            // reach this service's replicas.
            let client = try server.client()
            _ = try await client.createProject(name: "victim")
            _ = try await client.createService(project: "victim", name: "api")
            let victim = YardAPIClient.Scope(project: "victim", environment: "production", service: "api")
            _ = try await client.changeVariables(victim, set: ["SECRET": "victim-secret"], delete: [], sealed: ["SECRET"])
            let own = YardAPIClient.Scope(project: "edge", environment: "production", service: "edge")
            _ = try await client.changeVariables(own, set: ["SECRET": "mine"], delete: [], sealed: ["SECRET"])
            try #require(try await server.yard(["redeploy"], in: folder).status == 0)
            let before = try await server.eventually(host: host, path: "/env/SECRET") { status, body in status == 200 && body == "mine" }
            try #require(before.body == "mine", "\(before)")
            let moved = try HTTPSEndToEndTests.run(
                "/usr/bin/sqlite3",
                [
                    // The server may be writing (a deployment settling): wait for its lock.
                    "-cmd", ".timeout 10000",
                    server.dataDirectory.appendingPathComponent("switchyard.sqlite").path,
                    """
                    UPDATE variable SET value = (SELECT v.value FROM variable v JOIN service s ON s.id = v.service_id
                      JOIN project p ON p.id = s.project_id WHERE p.name = 'victim' AND v.key = 'SECRET')
                    WHERE key = 'SECRET' AND service_id IN (SELECT s.id FROM service s JOIN project p ON p.id = s.project_id WHERE p.name = 'edge');
                    """,
                ])
            try #require(moved.status == 0, "\(moved.output)")
            let redeploy = try await server.yard(["redeploy"], in: folder)
            let after = try await server.get(host: host, path: "/env/SECRET")
            #expect(after.body != "victim-secret", "the moved sealed value opened in another project's row")
            #expect(redeploy.status != 0, "a value sealed for another row deployed: \(redeploy.output)")
        }
    }

    @Test("--trusted-proxy keeps a trusted proxy's forwarding headers", .timeLimit(.minutes(5)))
    func trustedProxyKeepsHeaders() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with(serveArguments: ["--trusted-proxy", "127.0.0.0/8"]) { server in
            let folder = try await server.prepareApp("edge-echo", project: "behind")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let answer = try await Self.raw(
                port: server.routerPort,
                "GET / HTTP/1.1\r\nHost: behind-behind.localhost\r\nX-Forwarded-For: 203.0.113.66\r\nX-Real-IP: 203.0.113.66\r\nConnection: close\r\n\r\n"
            )
            let seen = try Self.headers(inResponse: answer)
            #expect(seen["x-forwarded-for"] == ["203.0.113.66, 127.0.0.1"], "\(seen)")
            #expect(seen["x-real-ip"] == ["203.0.113.66"], "\(seen)")
            let bad = try await server.yard(["serve", "--trusted-proxy", "not-an-address", "--data-dir", server.root.path + "/x"], in: server.root)
            #expect(bad.status != 0 && bad.stderr.contains("--trusted-proxy 'not-an-address'"), "\(bad.output)")
        }
    }

    // MARK: PGDATABASE as a conninfo

    @Test("PGDATABASE set to connection options does not steer the backup's pg_dump (run as root) elsewhere", .timeLimit(.minutes(6)))
    func databaseNameIsNotConnectionOptions() async throws {
        try IsolationEndToEndTests.requireIsolation()
        for tool in ["pg_dump", "psql"] {
            try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)"), "\(tool) is missing: apt-get install -y postgresql-client")
        }
        let listener = try CountingListener()
        defer { listener.close() }
        try await YardServer.with { server in
            let folder = try await server.prepareApp("db-client", project: "pgdb")
            let added = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            let set = try await server.yard(
                ["variables", "--service", "Postgres", "--skip-deploys", "--set", "PGDATABASE=host=127.0.0.1 port=\(listener.port) dbname=railway"], in: folder)
            try #require(set.status == 0, "\(set.output)")
            let backup = try await server.yard(["backup", "create", "Postgres"], in: folder)
            #expect(listener.accepted() == 0, "pg_dump connected to the address PGDATABASE named")
            #expect(backup.status != 0, "\(backup.output)")
        }
    }

    // MARK: Helpers

    static func post(_ server: YardServer, _ path: String, body: Data, headers: [(String, String)]) async throws -> (status: Int, body: String) {
        let url = URL(string: server.apiURL + path)!
        let (head, data) = try await HTTPConnection.fetch(
            .init(url: url, method: .POST, headers: [("Content-Type", "application/json")] + headers, body: body))
        return (Int(head.status), String(decoding: data, as: UTF8.self))
    }

    /// Sends `request` on a new connection to the router, then `then` once an answer head came,
    /// and returns what came back within 3 s.
    static func raw(port: Int, _ request: String, then: String? = nil) async throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { Glibc.close(descriptor) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "cannot connect to the router")
        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) } }
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : ""
        }
        send(request)
        var answer = ""
        while !answer.contains("\r\n\r\n") {
            let more = receive()
            if more.isEmpty { return answer }
            answer += more
        }
        if let then {
            send(then)
            try await Task.sleep(for: .milliseconds(300))
        }
        while true {
            let more = receive()
            if more.isEmpty { return answer }
            answer += more
        }
    }

    /// The request headers the echo replica reports in a response's JSON body, by lowercase name.
    static func headers(inResponse response: String) throws -> [String: [String]] {
        guard let start = response.range(of: "\r\n\r\n") else { return [:] }
        var body = String(response[start.upperBound...])
        // A chunked body (HTTP/1.1 with no length): the JSON sits between the chunk lines.
        if let open = body.firstIndex(of: "["), let close = body.lastIndex(of: "]") { body = String(body[open...close]) }
        // Not JSON (a raw tunnel's bytes): no headers; the caller's expectations then fail, and the test goes on.
        let pairs = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String]] ?? []
        return Dictionary(grouping: pairs.filter { $0.count == 2 }, by: { $0[0].lowercased() }).mapValues { $0.map { $0[1] } }
    }
}

/// A TCP listener on 127.0.0.1 that counts the connections it gets (never answers them).
final class CountingListener: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(descriptor, pointer, length) == 0, listen(descriptor, 16) == 0 else { return -1 }
                return getsockname(descriptor, pointer, &length)
            }
        }
        guard descriptor >= 0, bound == 0 else { throw YardError(.unavailable, "cannot listen on 127.0.0.1") }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connections waiting to be accepted (each is accepted and closed).
    func accepted() -> Int {
        var count = 0
        while true {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return count }
            Glibc.close(connection)
            count += 1
        }
    }

    func close() { Glibc.close(descriptor) }
}
