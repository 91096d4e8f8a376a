import Foundation
import Testing

/// HTTP/2 through a real `yard serve`: curl (with nghttp2) negotiates `h2` with the HTTPS
/// listener for a generated domain and multiplexes several requests on one connection;
/// a client that offers only HTTP/1.1 still gets it.
@Suite("HTTP/2 end to end")
struct HTTP2EndToEndTests {
    @Test("curl --http2 multiplexes requests to a TLS domain on one connection", .timeLimit(.minutes(3)))
    func multiplexedOverTLS() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "this test needs curl: apt-get install curl")
        let features = try HTTPSEndToEndTests.run("/usr/bin/curl", ["-V"])
        try #require(features.stdout.contains("HTTP2"), "this test needs a curl built with nghttp2: apt-get install curl")
        try await YardServer.with(runtime: "plain") { server in
            try #require(server.httpsPort > 0, "serve.json has no httpsPort: \(server.serveLog)")
            let folder = try await server.prepareApp("static-site", project: "h2")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let host = "h2-h2.localhost"
            let port = server.httpsPort
            let localCA = server.dataDirectory.appendingPathComponent("tls/ca.pem").path
            let common = ["-sS", "--max-time", "20", "--resolve", "\(host):\(port):127.0.0.1", "--cacert", localCA]
            // The first handshake makes the certificate; then five requests in parallel.
            let first = try HTTPSEndToEndTests.run("/usr/bin/curl", common + ["--http2", "https://\(host):\(port)/"])
            #expect(first.stdout.contains("static fixture page"), "\(first.output)")

            let urls = (1...5).map { "https://\(host):\(port)/?n=\($0)" }
            let parallel = try HTTPSEndToEndTests.run(
                "/usr/bin/curl",
                common + ["--http2", "--parallel", "-w", "%{http_version} %{response_code} %{num_connects}\\n"]
                    + urls.flatMap { ["-o", "/dev/null", $0] })
            #expect(parallel.status == 0, "\(parallel.output)")
            let lines = parallel.stdout.split(separator: "\n").map { $0.split(separator: " ") }
            #expect(lines.count == 5 && lines.allSatisfy { $0.count == 3 && $0[0] == "2" && $0[1] == "200" }, "\(parallel.output)")
            #expect(lines.compactMap { Int($0.last ?? "") }.reduce(0, +) == 1, "one connection for all five: \(parallel.output)")

            // Offering only HTTP/1.1 (as WebSocket clients do) still works.
            let http1 = try HTTPSEndToEndTests.run(
                "/usr/bin/curl", common + ["--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{response_code}", "https://\(host):\(port)/"])
            #expect(http1.stdout == "1.1 200", "\(http1.output)")
        }
    }
    /// Chromium against the router's own HTTP/2 layer: its SETTINGS (a 64 KiB header table, a
    /// 15 MB connection window), its priorities and its parallel streams, through a real
    /// `yard serve`.
    @Test("a real browser loads a page and six 3 MB files at once over h2, each whole", .timeLimit(.minutes(3)))
    func aBrowserOverHTTP2() async throws {
        try DashboardEndToEndTests.requireBrowser()
        try await YardServer.with(runtime: "plain") { server in
            try #require(server.httpsPort > 0, "serve.json has no httpsPort: \(server.serveLog)")
            let folder = try await server.prepareApp("static-site", project: "browser")
            var generator = SystemRandomNumberGenerator()
            let bytes = Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
            try bytes.write(to: folder.appendingPathComponent("large.bin"))
            let digest = try HTTPSEndToEndTests.run("/usr/bin/sha256sum", [folder.appendingPathComponent("large.bin").path])
                .stdout.split(separator: " ").first.map(String.init) ?? ""
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let scratch = server.root.appendingPathComponent("browser-tmp")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            var environment = server.environment
            environment["H2_BASE_URL"] = "https://browser-browser.localhost:\(server.httpsPort)"
            environment["H2_FILE"] = "/large.bin"
            environment["H2_SHA256"] = digest
            environment["PYTHONUNBUFFERED"] = "1"
            environment["TMPDIR"] = scratch.path
            let result = try await DashboardEndToEndTests.run(
                DashboardEndToEndTests.python, [YardServer.packageRoot.appendingPathComponent("Tests/Browser/h2_test.py").path],
                environment: environment, in: server.root, timeout: .seconds(120))
            #expect(
                result.status == 0 && result.output.contains("H2-OK"),
                "\(YardServer.lastLines(of: result.output, 40))\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
        }
    }
}
