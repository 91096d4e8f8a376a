import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// aiosmtpd on loopback that requires STARTTLS (a fresh self-signed certificate for
/// localhost) and AUTH (user `yard`, password `pw`) before it takes a message.
public final class TLSMailServer: @unchecked Sendable {
    public let port: Int
    public let folder: URL
    private let process: ChildProcess

    public var certificateFile: String { folder.appendingPathComponent("cert.pem").path }

    public init() async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-alert-receivers-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("box"), withIntermediateDirectories: true)
        let made = try await SystemCommand(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", folder.appendingPathComponent("key.pem").path, "-out", folder.appendingPathComponent("cert.pem").path,
            ]
        ).result()
        guard made.succeeded else { throw YardError(.unavailable, "openssl could not make a test certificate: \(made.standardError)") }
        let script = folder.appendingPathComponent("smtp.py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        port = try PortAllocator.freePort()
        process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            script.path, String(port), folder.appendingPathComponent("box/mail").path, certificateFile,
            folder.appendingPathComponent("key.pem").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await AlertReceivers.waitForPort(port)
    }

    /// Messages received, raw.
    public func mails() -> [String] {
        let new = folder.appendingPathComponent("box/mail/new")
        return ((try? FileManager.default.contentsOfDirectory(atPath: new.path)) ?? []).sorted().compactMap {
            FileManager.default.contents(atPath: new.appendingPathComponent($0).path).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    static let script = """
        import ssl, sys, time
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox
        from aiosmtpd.smtp import AuthResult

        port, box, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticate(server, session, envelope, mechanism, data):
            return AuthResult(success=(data.login == b"yard" and data.password == b"pw"), handled=False)

        controller = Controller(
            Mailbox(box), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
            authenticator=authenticate, auth_require_tls=True)
        controller.start()
        while True:
            time.sleep(3600)
        """
}
