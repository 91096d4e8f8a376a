import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#endif
import YardRuntime

/// Real receivers for alert tests, on loopback: an HTTP server (python3's http.server) that
/// records every POST's headers and raw body, and aiosmtpd (Debian's python3-aiosmtpd) that
/// stores every message it gets in a Maildir. `stop()` ends them and removes their folder.
public final class AlertReceivers: @unchecked Sendable {
    public let folder: URL
    public let httpPort: Int
    public let smtpPort: Int
    private let processes: [ChildProcess]

    /// One POST the HTTP receiver got.
    public struct Delivery: Decodable, Sendable {
        public var path: String
        public var headers: [String: String]
        /// The raw body, base64 (the signature covers its exact bytes).
        public var body: String
        public var bodyData: Data { Data(base64Encoded: body) ?? Data() }
        public func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    /// The Debian python that has aiosmtpd (pyenv's may not).
    static let python = "/usr/bin/python3"

    public init() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python),
            FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/aiosmtpd")
        else {
            throw YardError(.unavailable, "alert tests need aiosmtpd: apt-get install python3-aiosmtpd (scripts/setup.sh installs it)")
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-alert-receivers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("mail"), withIntermediateDirectories: true)
        let script = folder.appendingPathComponent("receiver.py")
        try Self.httpReceiver.write(to: script, atomically: true, encoding: .utf8)
        httpPort = try PortAllocator.freePort()
        smtpPort = try PortAllocator.freePort()
        let http = ChildProcess()
        http.executableURL = URL(fileURLWithPath: Self.python)
        http.arguments = [script.path, String(httpPort), folder.appendingPathComponent("posts.jsonl").path]
        http.standardOutput = FileHandle.nullDevice
        http.standardError = FileHandle.nullDevice
        let smtp = ChildProcess()
        smtp.executableURL = URL(fileURLWithPath: Self.python)
        smtp.arguments = [
            "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(smtpPort)", "-c", "aiosmtpd.handlers.Mailbox",
            folder.appendingPathComponent("mail/box").path,
        ]
        smtp.standardOutput = FileHandle.nullDevice
        smtp.standardError = FileHandle.nullDevice
        try http.run()
        try smtp.run()
        processes = [http, smtp]
        try await Self.waitForPort(httpPort)
        try await Self.waitForPort(smtpPort)
    }

    public var webhookURL: String { "http://127.0.0.1:\(httpPort)/hook" }

    /// Every POST so far, in order.
    public func deliveries() -> [Delivery] {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("posts.jsonl").path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(Delivery.self, from: Data($0.utf8))
        }
    }

    /// Every message aiosmtpd stored, as raw text.
    public func mails() -> [String] {
        let box = folder.appendingPathComponent("mail/box")
        var messages: [String] = []
        for sub in ["new", "cur"] {
            let dir = box.appendingPathComponent(sub)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
            for name in names {
                if let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) {
                    messages.append(String(decoding: data, as: UTF8.self))
                }
            }
        }
        return messages
    }

    /// Polls `condition` until it holds or `timeout` passes.
    public func wait(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    public func stop() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Waits (without holding a thread) until something accepts on 127.0.0.1:`port`.
    static func waitForPort(_ port: Int) async throws {
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw YardError(.unavailable, "a test receiver did not open port \(port)")
    }

    /// Records each POST as one JSON line: path, headers, base64 body; answers 200.
    static let httpReceiver = """
        import base64, json, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, log = int(sys.argv[1]), sys.argv[2]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": base64.b64encode(body).decode()}
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\\n")
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """
}
