import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import YardCore

/// The SMTP relay alerts are mailed through (`yard serve --smtp-url smtp://user@host:port`,
/// the password from `--smtp-password-file` or `YARD_SMTP_PASSWORD`, never argv).
public struct AlertMailConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    /// The envelope and `From:` address.
    public var from: String
    /// Certificates trusted for STARTTLS besides the system's (a private relay's CA).
    public var trustedCertificateFile: String?

    public init(host: String, port: Int, username: String? = nil, password: String? = nil, from: String, trustedCertificateFile: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.from = from
        self.trustedCertificateFile = trustedCertificateFile
    }

    /// Parses `smtp://[user@]host[:port]` (port 25 by default, 587 for `submission://`).
    public static func parse(url text: String, password: String?, from: String) throws -> AlertMailConfiguration {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["smtp", "submission"].contains(scheme),
            let host = url.host, !host.isEmpty
        else {
            throw YardError(.invalidInput, "--smtp-url '\(text)' is not smtp://[user@]host[:port]")
        }
        guard url.password == nil else {
            throw YardError(
                .invalidInput, "--smtp-url must not hold the password (it would show in the process list): use --smtp-password-file or YARD_SMTP_PASSWORD")
        }
        guard from.contains("@") else { throw YardError(.invalidInput, "--smtp-from '\(from)' is not an email address") }
        let user = url.user.flatMap { $0.removingPercentEncoding ?? $0 }
        return AlertMailConfiguration(host: host, port: url.port ?? (scheme == "smtp" ? 25 : 587), username: user, password: password, from: from)
    }
}

/// A small SMTP client on SwiftNIO: EHLO, STARTTLS when the server offers it, AUTH PLAIN or
/// LOGIN when a user is configured (only over TLS, or to loopback), MAIL/RCPT/DATA with
/// dot-stuffing, QUIT. One message per connection: alerts are rare.
public enum AlertSMTPClient {
    public static func send(
        _ configuration: AlertMailConfiguration, to recipient: String, subject: String, body: String, timeout: Duration = .seconds(30)
    ) async throws {
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SMTPLineHandler(continuation: continuation))
                }
            }
            .connect(host: configuration.host, port: configuration.port).get()
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            channel.close(promise: nil)
        }
        defer {
            watchdog.cancel()
            channel.close(promise: nil)
        }
        var session = SMTPSession(channel: channel, lines: lines.makeAsyncIterator())
        try await session.expect(220, after: nil)
        let helloName = "switchyard"
        var features = try await session.expect(250, after: "EHLO \(helloName)")
        var secure = false
        if features.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) {
            try await session.expect(220, after: "STARTTLS")
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustedCertificateFile {
                tls.additionalTrustRoots = [.file(file)]
            }
            let context = try NIOSSLContext(configuration: tls)
            let host = configuration.host
            try await channel.eventLoop.submit {
                let handler = try NIOSSLClientHandler(context: context, serverHostname: host.first?.isNumber == true ? nil : host)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            }.get()
            secure = true
            features = try await session.expect(250, after: "EHLO \(helloName)")
        }
        if let user = configuration.username {
            guard secure || ["127.0.0.1", "::1", "localhost"].contains(configuration.host) else {
                throw YardError(
                    .unavailable, "the SMTP server \(configuration.host) does not offer STARTTLS: the password is not sent in clear; nothing was mailed")
            }
            let password = configuration.password ?? ""
            let auth = features.first(where: { $0.uppercased().hasPrefix("AUTH") })?.uppercased() ?? ""
            if auth.contains("PLAIN") {
                let token = Data("\0\(user)\0\(password)".utf8).base64EncodedString()
                try await session.expect(235, after: "AUTH PLAIN \(token)", redacted: "AUTH PLAIN ***")
            } else if auth.contains("LOGIN") {
                try await session.expect(334, after: "AUTH LOGIN")
                try await session.expect(334, after: Data(user.utf8).base64EncodedString(), redacted: "***")
                try await session.expect(235, after: Data(password.utf8).base64EncodedString(), redacted: "***")
            } else {
                throw YardError(.unavailable, "the SMTP server offers neither AUTH PLAIN nor AUTH LOGIN; nothing was mailed")
            }
        }
        try await session.expect(250, after: "MAIL FROM:<\(configuration.from)>")
        try await session.expect([250, 251], after: "RCPT TO:<\(recipient)>")
        try await session.expect(354, after: "DATA")
        let message = Self.message(from: configuration.from, to: recipient, subject: subject, body: body)
        try await session.expect(250, after: Self.dotStuffed(message) + "\r\n.")
        _ = try? await session.expect(221, after: "QUIT")
    }

    /// The message: headers and a plain-text UTF-8 body, lines ending in CRLF.
    static func message(from: String, to: String, subject: String, body: String, date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let encodedSubject =
            subject.allSatisfy(\.isASCII) ? subject : "=?utf-8?B?\(Data(subject.utf8).base64EncodedString())?="
        let domain = from.split(separator: "@").last.map(String.init) ?? "switchyard"
        let headers = [
            "From: \(from)", "To: \(to)", "Subject: \(encodedSubject)", "Date: \(formatter.string(from: date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
        ]
        let lines = body.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        return (headers + [""] + lines.map(String.init)).joined(separator: "\r\n")
    }

    /// RFC 5321 4.5.2: a line starting with "." gets another one.
    static func dotStuffed(_ message: String) -> String {
        message.components(separatedBy: "\r\n").map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n")
    }
}

/// One conversation: a command, then its (possibly multi-line) reply.
private struct SMTPSession {
    let channel: any Channel
    var lines: AsyncStream<String>.Iterator

    /// Sends `command` (if any) and reads the reply; throws unless its code is one of `codes`.
    /// Returns the reply's texts (EHLO's are the server's features).
    @discardableResult
    mutating func expect(_ codes: [Int], after command: String?, redacted: String? = nil) async throws -> [String] {
        if let command {
            try await channel.writeAndFlush(ByteBuffer(string: command + "\r\n")).get()
        }
        var texts: [String] = []
        while true {
            guard let line = await lines.next() else {
                throw YardError(.unavailable, "the SMTP server closed the connection (or timed out) after \(redacted ?? command ?? "connecting")")
            }
            let code = Int(line.prefix(3)) ?? 0
            texts.append(String(line.dropFirst(4)))
            let continues = line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-"
            if continues { continue }
            guard codes.contains(code) else {
                throw YardError(.unavailable, "the SMTP server answered '\(line.prefix(200))' to \(redacted ?? command?.prefix(40).description ?? "the greeting")")
            }
            return texts
        }
    }

    @discardableResult
    mutating func expect(_ code: Int, after command: String?, redacted: String? = nil) async throws -> [String] {
        try await expect([code], after: command, redacted: redacted)
    }
}

/// Splits what the server sends into lines (CRLF or LF).
private final class SMTPLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<String>.Continuation
    private var pending: [UInt8] = []

    init(continuation: AsyncStream<String>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        while let newline = pending.firstIndex(of: 0x0A) {
            var line = Array(pending[..<newline])
            if line.last == 0x0D { line.removeLast() }
            pending.removeSubrange(...newline)
            continuation.yield(String(decoding: line, as: UTF8.self))
        }
        // A server that never sends a newline cannot make us hold unbounded bytes.
        if pending.count > 64 << 10 { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish()
        context.close(promise: nil)
    }
}
