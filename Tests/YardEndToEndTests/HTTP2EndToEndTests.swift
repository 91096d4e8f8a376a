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
}
