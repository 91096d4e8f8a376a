import Foundation
import Testing
import YardClient
import YardCore

/// Issue 5's routing points: custom domains with a target port, and the HTTP access log.
@Suite("routing end to end", .serialized)
struct RoutingEndToEndTests {
    @Test("`yard domain add --port` routes to a second port of a sandboxed app; `yard logs --http` shows the requests",
          .timeLimit(.minutes(6)))
    func domainWithTargetPortAndAccessLog() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("two-ports", project: "ports")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let generated = "ports-ports.localhost"

            let app = try await server.get(host: generated, path: "/hello?token=s3cr3t")
            #expect(app.status == 200)
            #expect(app.body.hasPrefix("app rep_"), "a domain without a port goes to PORT: \(app.body)")

            let add = try await server.yard(["domain", "add", "admin.test", "--port", "8080"], in: folder)
            try #require(add.status == 0, "\(add.output)")
            #expect(add.stdout.contains("admin.test"))
            #expect(add.stdout.contains("→ port 8080"), "\(add.stdout)")
            let admin = try await server.get(host: "Admin.Test:1234", path: "/panel")
            #expect(admin.status == 200)
            #expect(admin.body.hasPrefix("admin rep_") && admin.body.hasSuffix(" /panel"), "\(admin.body)")
            // The generated domain still goes to PORT.
            #expect(try await server.get(host: generated).body.hasPrefix("app "))
            let missing = try await server.get(host: "admin.test", path: "/missing")
            #expect(missing.status == 404)

            // The old form still adds a domain; a bad port is refused before anything is sent.
            let old = try await server.yard(["domain", "plain.test"], in: folder)
            #expect(old.status == 0, "\(old.output)")
            #expect(try await server.get(host: "plain.test").body.hasPrefix("app "))
            let bad = try await server.yard(["domain", "add", "bad.test", "--port", "70000"], in: folder)
            #expect(bad.status != 0)
            #expect(bad.output.contains("70000 is not a TCP port"), "\(bad.output)")

            // One hostname split by path prefix: /api to PORT, the rest to port 8080.
            #expect(try await server.yard(["domain", "add", "split.test", "--port", "8080"], in: folder).status == 0)
            let api = try await server.yard(["domain", "add", "split.test", "--path", "/api/"], in: folder)
            try #require(api.status == 0, "\(api.output)")
            #expect(api.stdout.contains("split.test:\(server.routerPort)/api"), "\(api.stdout)")
            #expect(try await server.get(host: "split.test", path: "/api/items?x=1").body.hasSuffix("app \(try #require(app.body.split(separator: " ").dropFirst().first)) /api/items?x=1"))
            #expect(try await server.get(host: "split.test", path: "/api").body.hasPrefix("app "))
            #expect(try await server.get(host: "split.test", path: "/apiary").body.hasPrefix("admin "))
            #expect(try await server.get(host: "split.test", path: "/").body.hasPrefix("admin "))
            let badPath = try await server.yard(["domain", "add", "split.test", "--path", "api now"], in: folder)
            #expect(badPath.status != 0 && badPath.output.contains("is not a path prefix"), "\(badPath.output)")
            #expect(try await server.yard(["domain", "remove", "split.test", "--path", "/api"], in: folder).status == 0)
            #expect(try await server.get(host: "split.test", path: "/api").body.hasPrefix("admin "))

            // The access log, in text and as JSON (written in batches: wait for the last request).
            var text = ""
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                let logs = try await server.yard(["logs", "--http"], in: folder)
                try #require(logs.status == 0, "\(logs.output)")
                text = logs.stdout
                if text.contains("plain.test/") { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(text.contains("GET admin.test/panel 200"), "\(text)")
            #expect(text.contains("GET admin.test/missing 404"), "\(text)")
            #expect(text.contains("GET \(generated)/hello 200"), "\(text)")
            #expect(text.contains("upstream=rep_"), "\(text)")
            #expect(!text.contains("s3cr3t"), "the query string is never logged")
            #expect(!text.contains("/health"), "health checks do not go through the router")

            let json = try await server.yard(["logs", "--http", "--json"], in: folder)
            try #require(json.status == 0, "\(json.output)")
            let lines = try json.stdout.split(separator: "\n").map { try YardJSON.decoder().decode(LogLine.self, from: Data($0.utf8)) }
            let panel = try #require(lines.first { $0.http?.path == "/panel" }?.http, "\(json.stdout)")
            #expect(panel.host == "admin.test")
            #expect(panel.method == "GET")
            #expect(panel.status == 200)
            #expect(panel.upstream?.hasPrefix("rep_") == true)
            #expect(panel.bytesIn == 0)
            #expect(panel.bytesOut == admin.body.utf8.count)
            #expect(panel.durationMs > 0)
            #expect(lines.allSatisfy { $0.stream == .http })

            // Searched on the server, in Railway's filter syntax and a time window.
            let filtered = try await server.yard(["logs", "--http", "--json", "--filter", "@httpStatus:>=400 @host:admin.test"], in: folder)
            try #require(filtered.status == 0, "\(filtered.output)")
            let found = try filtered.stdout.split(separator: "\n").map { try YardJSON.decoder().decode(LogLine.self, from: Data($0.utf8)) }
            #expect(found.map(\.http?.path) == lines.filter { $0.http?.host == "admin.test" && $0.http!.status >= 400 }.map(\.http?.path))
            #expect(found.map(\.http?.path) == ["/missing"], "\(filtered.stdout)")
            let none = try await server.yard(["logs", "--http", "--since", "2099-01-01T00:00:00Z"], in: folder)
            #expect(none.status == 0 && none.stdout.isEmpty, "\(none.output)")
            let badFilter = try await server.yard(["logs", "--http", "--filter", "@colour:red"], in: folder)
            #expect(badFilter.status != 0 && badFilter.output.contains("unknown attribute @colour"), "\(badFilter.output)")

            // Removed: the host is not routed any more, and that 404 is the router's own.
            let remove = try await server.yard(["domain", "remove", "admin.test"], in: folder)
            #expect(remove.status == 0, "\(remove.output)")
            #expect(!remove.stdout.contains("admin.test"))
            let gone = try await server.get(host: "admin.test")
            #expect(gone.status == 404)
            #expect(gone.body.contains("no service is routed at host"))
            let list = try await server.yard(["domain", "list"], in: folder)
            #expect(list.stdout.contains(generated) && list.stdout.contains("plain.test") && !list.stdout.contains("admin.test"))
        }
    }

    @Test("plain runtime: a target port is refused with the reason, a domain without one routes to PORT", .timeLimit(.minutes(3)))
    func targetPortNeedsTheSandbox() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let folder = try await server.prepareApp("static-site", project: "flat")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let refused = try await server.yard(["domain", "add", "admin.test", "--port", "8080"], in: folder)
            #expect(refused.status != 0)
            #expect(refused.output.contains("needs the sandbox runtime"), "\(refused.output)")
            #expect(try await server.get(host: "admin.test").status == 404, "nothing was added")
            let added = try await server.yard(["domain", "add", "www.flat.test", "--path", "/"], in: folder)
            #expect(added.status == 0, "\(added.output)")
            #expect(try await server.get(host: "WWW.flat.test").body.contains("static fixture page"))
        }
    }
}
