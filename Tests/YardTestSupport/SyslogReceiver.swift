import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// A syslog receiver on loopback (python3): parses RFC 6587 octet-counted frames and writes
/// each message on a line of its own; or, `stalled`, accepts connections and never reads;
/// with `tls`, the frames come over TLS (RFC 5425) with that certificate and key.
public final class SyslogReceiver: @unchecked Sendable {
    public let port: Int
    public let folder: URL
    private let process: ChildProcess

    /// True once `tls` is set: its URL is `tls://`.
    public let isTLS: Bool

    public init(stalled: Bool = false, tls: (certificate: URL, key: URL)? = nil) async throws {
        isTLS = tls != nil
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-syslog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let script = folder.appendingPathComponent("syslog.py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        port = try PortAllocator.freePort()
        process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script.path, String(port), folder.appendingPathComponent("messages").path, stalled ? "stall" : "read"] + (tls.map { [$0.certificate.path, $0.key.path] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await AlertReceivers.waitForPort(port)
    }

    public var url: String { "\(isTLS ? "tls" : "tcp")://127.0.0.1:\(port)" }

    /// The messages received so far.
    public func messages() -> [String] {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("messages").path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    static let script = """
        import socket, ssl, sys, threading
        port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        context = None
        if len(sys.argv) > 5:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[4], sys.argv[5])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "stall":
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        server.bind(("127.0.0.1", port))
        server.listen(8)
        lock = threading.Lock()

        def serve(conn):
            if mode == "stall":
                threading.Event().wait()
            if context is not None:
                try:
                    conn = context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    return
            pending = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
                while True:
                    space = pending.find(b" ")
                    if space < 0:
                        break
                    length = int(pending[:space])
                    if len(pending) < space + 1 + length:
                        break
                    message = pending[space + 1:space + 1 + length]
                    pending = pending[space + 1 + length:]
                    with lock, open(out, "ab") as f:
                        f.write(message + b"\\n")

        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        """
}

extension SyslogReceiver {
    /// A self-signed certificate for 127.0.0.1 (its own CA) and its key, made with `openssl
    /// req` in `folder`: `name.pem` and `name.key`.
    public static func makeCertificate(in folder: URL, name: String) async throws -> (certificate: URL, key: URL) {
        let certificate = folder.appendingPathComponent("\(name).pem")
        let key = folder.appendingPathComponent("\(name).key")
        let made = try await SystemCommand(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=syslog-\(name)", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key.path, "-out", certificate.path,
            ]
        ).result()
        guard made.succeeded else {
            throw YardError(.internal, "openssl req failed (install openssl: apt-get install openssl): \(made.standardError)")
        }
        return (certificate, key)
    }
}
