import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// HTTPS through a real `yard serve`: the local authority's certificate for a generated
/// domain, a user's certificate for a custom domain, on one port, chosen by SNI; checked with
/// curl, which verifies the chain and the name like a browser.
@Suite("HTTPS end to end")
struct HTTPSEndToEndTests {
    @Test("two domains on one HTTPS port get their own certificates; bad pairs are refused; keys stay private", .timeLimit(.minutes(5)))
    func httpsWithSNI() async throws {
        for tool in ["/usr/bin/curl", "/usr/bin/openssl"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "this test needs \(tool): apt-get install curl openssl")
        }
        try await YardServer.with(runtime: "plain") { server in
            try #require(server.httpsPort > 0, "serve.json has no httpsPort: \(server.serveLog)")
            let folder = try await server.prepareApp("static-site", project: "tls")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let generated = "tls-tls.localhost"
            let localCA = server.dataDirectory.appendingPathComponent("tls/ca.pem")

            // The generated domain: a certificate from the local authority, made on first need.
            let first = try Self.curl(host: generated, port: server.httpsPort, trusting: localCA.path)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.stdout.contains("static fixture page"))
            #expect(FileManager.default.fileExists(atPath: localCA.path))
            let ca = try await server.yard(["domain", "ca"], in: folder)
            #expect(ca.stdout.contains(localCA.path), "\(ca.output)")

            // A custom domain with the user's own certificate, from another authority.
            let userCA = server.root.appendingPathComponent("user-ca")
            try Self.makeAuthority(in: userCA)
            try Self.issue(in: userCA, name: "shop", hosts: ["shop.example.test"])
            try Self.issue(in: userCA, name: "other", hosts: ["other.example.test"])
            let shopPEM = userCA.appendingPathComponent("shop.pem").path
            let shopKey = userCA.appendingPathComponent("shop.key").path
            let add = try await server.yard(["domain", "add", "shop.example.test", "--cert", shopPEM, "--key", shopKey], in: folder)
            #expect(add.status == 0, "\(add.output)")
            #expect(add.stdout.contains("https://shop.example.test:\(server.httpsPort)  (certificate from files)"), "\(add.output)")
            #expect(add.stdout.contains("https://\(generated):\(server.httpsPort)  (certificate from the local authority)"))

            let shop = try Self.curl(
                host: "shop.example.test", port: server.httpsPort, trusting: userCA.appendingPathComponent("ca.pem").path)
            #expect(shop.status == 0, "\(shop.output)")
            #expect(shop.stdout.contains("static fixture page"))
            // Each name got its own certificate: the other authority's chain does not verify.
            let crossed = try Self.curl(host: "shop.example.test", port: server.httpsPort, trusting: localCA.path)
            #expect(crossed.status == 60, "curl should refuse the chain: \(crossed.output)")
            // An unrouted name fails the handshake.
            let unknown = try Self.curl(host: "nobody.example.test", port: server.httpsPort, trusting: localCA.path)
            #expect(unknown.status != 0)

            // Bad input is refused, naming the file and what is wrong.
            let otherKey = userCA.appendingPathComponent("other.key").path
            let mismatched = try await server.yard(
                ["domain", "add", "shop.example.test", "--cert", shopPEM, "--key", otherKey], in: folder)
            #expect(mismatched.status != 0)
            #expect(mismatched.stderr.contains("--key \(otherKey): it does not match the certificate"), "\(mismatched.output)")
            let notPEM = try await server.yard(
                ["domain", "add", "shop.example.test", "--cert", "/etc/hostname", "--key", shopKey], in: folder)
            #expect(notPEM.stderr.contains("--cert /etc/hostname: not a PEM certificate"), "\(notPEM.output)")
            let foreign = try await server.yard(["domain", "add", "www.example.test", "--cert", shopPEM, "--key", shopKey], in: folder)
            #expect(foreign.stderr.contains("does not cover www.example.test"), "\(foreign.output)")
            // The refused pair did not replace the working one.
            #expect(
                try Self.curl(host: "shop.example.test", port: server.httpsPort, trusting: userCA.appendingPathComponent("ca.pem").path)
                    .status == 0)

            // A new certificate for the domain is served from the next handshake on, with no restart.
            try Self.issue(in: userCA, name: "shop2", hosts: ["shop.example.test", "www.shop.example.test"])
            let replace = try await server.yard(
                [
                    "domain", "add", "shop.example.test",
                    "--cert", userCA.appendingPathComponent("shop2.pem").path, "--key", userCA.appendingPathComponent("shop2.key").path,
                ], in: folder)
            #expect(replace.status == 0, "\(replace.output)")
            let served = try Self.run(
                "/bin/sh",
                [
                    "-c",
                    "openssl s_client -connect 127.0.0.1:\(server.httpsPort) -servername shop.example.test </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName",
                ])
            #expect(served.stdout.contains("DNS:www.shop.example.test"), "\(served.output)")

            // Private keys: never in the API's answers or the server's log; 0600 on disk.
            let keyBody = try String(contentsOfFile: shopKey, encoding: .utf8)
                .split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            let listed = try await server.yard(["domain", "--json"], in: folder)
            #expect(listed.status == 0)
            #expect(listed.stdout.contains(#""certificate" : "files""#), "\(listed.stdout)")
            for text in [listed.stdout, server.serveLog] {
                #expect(!text.contains("PRIVATE KEY") && !text.contains(keyBody.prefix(40)))
            }
            for key in ["tls/ca.key", "tls/files/shop.example.test.key", "tls/local/\(generated).key"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory.appendingPathComponent(key).path)
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(key)")
            }

            // After a restart: the same authority (already trusted), the user's certificate kept.
            let authorityBefore = try Data(contentsOf: localCA)
            await server.stop()
            try await server.start()
            #expect(try Data(contentsOf: localCA) == authorityBefore)
            let userCAFile = userCA.appendingPathComponent("ca.pem").path
            // The replica comes back from its artifact; then both domains answer over HTTPS.
            let back = try await server.eventually(host: generated) { status, _ in status == 200 }
            #expect(back.status == 200)
            let generatedAgain = try Self.curl(host: generated, port: server.httpsPort, trusting: localCA.path)
            #expect(generatedAgain.stdout.contains("static fixture page"), "\(generatedAgain.output)")
            let shopAgain = try Self.curl(host: "shop.example.test", port: server.httpsPort, trusting: userCAFile)
            #expect(shopAgain.stdout.contains("static fixture page"), "\(shopAgain.output)")
        }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    static func run(_ tool: String, _ arguments: [String], in directory: URL? = nil) throws -> Result {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// GET https://host:port/ with the name resolved to 127.0.0.1 (SNI = host), trusting only `trusting`.
    static func curl(host: String, port: Int, trusting: String) throws -> Result {
        try run(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "10", "--resolve", "\(host):\(port):127.0.0.1", "--cacert", trusting, "https://\(host):\(port)/",
            ])
    }

    static func makeAuthority(in directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "[req]\ndistinguished_name = dn\n[dn]\n".write(
            to: directory.appendingPathComponent("openssl.cnf"), atomically: true, encoding: .utf8)
        let made = try run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=User test authority",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            ], in: directory)
        try #require(made.status == 0, "\(made.output)")
    }

    static func issue(in directory: URL, name: String, hosts: [String]) throws {
        let made = try run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).pem", "-days", "10", "-subj", "/CN=\(hosts[0])",
                "-CA", "ca.pem", "-CAkey", "ca.key", "-addext", "subjectAltName=" + hosts.map { "DNS:\($0)" }.joined(separator: ","),
            ], in: directory)
        try #require(made.status == 0, "\(made.output)")
    }
}
