import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import YardCore

/// Where a service's log lines are forwarded (`yard drain add`): a syslog receiver over TCP
/// (RFC 5424 messages, RFC 6587 octet-counted framing) or over TLS (`tls://`, RFC 5425: the
/// same frames, the receiver's certificate verified), or an HTTP endpoint (JSON batches).
public struct LogDrainTarget: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case syslog, http }
    public var kind: Kind
    /// `tcp://host:port`, `tls://host:port` or the URL.
    public var url: String

    public init(kind: Kind, url: String) {
        self.kind = kind
        self.url = url
    }

    /// Checks a target before it is stored.
    public static func validate(kind: Kind, url text: String) throws {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw YardError(.invalidInput, "'\(text.prefix(80))' is not a URL: use --syslog tcp://host:port or --http http(s)://…")
        }
        switch kind {
        case .syslog:
            guard ["tcp", "tls"].contains(url.scheme ?? ""), url.port != nil else {
                throw YardError(.invalidInput, "--syslog '\(text.prefix(80))' must be tcp://host:port, or tls://host:port for syslog over TLS")
            }
        case .http:
            guard ["http", "https"].contains(url.scheme ?? "") else {
                throw YardError(.invalidInput, "--http '\(text.prefix(80))' must be an http(s) URL")
            }
        }
    }
}

/// One line on its way to a drain.
public struct DrainedLine: Sendable, Equatable {
    public var timestamp: Date
    public var service: String
    public var replica: String?
    public var stream: LogLine.Stream
    public var message: String

    public init(timestamp: Date, service: String, replica: String?, stream: LogLine.Stream, message: String) {
        self.timestamp = timestamp
        self.service = service
        self.replica = replica
        self.stream = stream
        self.message = message
    }

    /// RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`; facility user (1), severity
    /// informational (6) for stdout and system lines, error (3) for stderr.
    public func syslogMessage(hostname: String) -> String {
        let priority = 8 + (stream == .stderr ? 3 : 6)
        let time = timestamp.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        return "<\(priority)>1 \(time) \(Self.field(hostname)) \(Self.field(service)) \(Self.field(replica ?? "-")) \(stream.rawValue) - \(message)"
    }

    /// RFC 6587 octet counting: `<length> <message>`, the length in bytes.
    public func syslogFrame(hostname: String) -> String {
        let message = syslogMessage(hostname: hostname)
        return "\(message.utf8.count) \(message)"
    }

    /// A header field: printable ASCII without spaces, at most 48 characters, `-` when empty.
    static func field(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.value > 32 && $0.value < 127 }.prefix(48).map(Character.init))
        return cleaned.isEmpty ? "-" : cleaned
    }
}

/// A bounded queue: `offer` never waits; when full the line is dropped and counted.
final class DrainBuffer: Sendable {
    private struct State {
        var lines: [DrainedLine] = []
        var head = 0
        var dropped = 0
        var sent = 0
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    func offer(_ line: DrainedLine) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if state.lines.count - state.head >= capacity {
                state.dropped += 1
                return nil
            }
            state.lines.append(line)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Up to `maximum` lines, waiting while there are none; empty once closed.
    func take(maximum: Int) async -> [DrainedLine] {
        while true {
            let batch: [DrainedLine]? = state.withLock { state in
                guard state.lines.count > state.head else { return state.closed ? [] : nil }
                let end = min(state.lines.count, state.head + maximum)
                let batch = Array(state.lines[state.head..<end])
                state.head = end
                if state.head > 4096 {
                    state.lines.removeFirst(state.head)
                    state.head = 0
                }
                return batch
            }
            if let batch { return batch }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.lines.count > state.head || state.closed { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    func markSent(_ count: Int) { state.withLock { $0.sent += count } }
    func markDropped(_ count: Int) { state.withLock { $0.dropped += count } }

    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    var counts: (sent: Int, dropped: Int, queued: Int) {
        state.withLock { ($0.sent, $0.dropped, $0.lines.count - $0.head) }
    }
}

/// One drain: its buffer and the task that empties it into the receiver. A receiver that is
/// slow, stalled or down only fills the buffer; lines beyond it are dropped and counted.
final class LogDrainSender: Sendable {
    let id: String
    let target: LogDrainTarget
    let buffer: DrainBuffer
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(id: String, target: LogDrainTarget, capacity: Int, trustedCertificateFile: String? = nil, logger: Logger) {
        self.id = id
        self.target = target
        self.buffer = DrainBuffer(capacity: capacity)
        let buffer = self.buffer
        let started = Task.detached {
            switch target.kind {
            case .syslog:
                await Self.runSyslog(target: target, buffer: buffer, trustedCertificateFile: trustedCertificateFile, logger: logger)
            case .http: await Self.runHTTP(target: target, buffer: buffer, logger: logger)
            }
        }
        task.withLock { $0 = started }
    }

    func stop() {
        buffer.close()
        task.withLock { $0?.cancel() }
    }

    static let hostname = ProcessInfo.processInfo.hostName

    /// Keeps one TCP (or TLS) connection, reconnecting after a failure (1 s later); each
    /// batch is written as octet-counted frames and counted once the write completed, or
    /// counted as dropped when it failed.
    static func runSyslog(target: LogDrainTarget, buffer: DrainBuffer, trustedCertificateFile: String?, logger: Logger) async {
        guard let url = URLComponents(string: target.url), let host = url.host, let port = url.port else { return }
        let tls: NIOSSLContext?
        do {
            tls = try url.scheme == "tls" ? SyslogTLS.context(trustedCertificateFile: trustedCertificateFile) : nil
        } catch {
            logger.error("log drain has no TLS context", metadata: ["drain.host": "\(host):\(port)", "error": "\(error)"])
            return
        }
        var channel: (any Channel)?
        while !Task.isCancelled {
            let batch = await buffer.take(maximum: 256)
            if batch.isEmpty { break }
            do {
                if channel == nil || channel?.isActive == false {
                    channel = try await SyslogTLS.bootstrap(tls: tls, host: host).connect(host: host, port: port).get()
                }
                let text = batch.map { $0.syslogFrame(hostname: hostname) }.joined()
                try await channel!.writeAndFlush(ByteBuffer(string: text)).get()
                buffer.markSent(batch.count)
            } catch {
                buffer.markDropped(batch.count)
                logger.warning("log drain write failed", metadata: ["drain.host": "\(host):\(port)", "error": "\(error)"])
                channel?.close(promise: nil)
                channel = nil
                try? await Task.sleep(for: .seconds(1))
            }
        }
        channel?.close(promise: nil)
    }

    /// POSTs batches of up to 500 lines as a JSON array.
    static func runHTTP(target: LogDrainTarget, buffer: DrainBuffer, logger: Logger) async {
        struct Entry: Encodable {
            var timestamp: Date
            var service: String
            var replica: String?
            var stream: String
            var message: String
        }
        while !Task.isCancelled {
            let batch = await buffer.take(maximum: 500)
            if batch.isEmpty { break }
            do {
                let body = try YardJSON.encoder().encode(
                    batch.map { Entry(timestamp: $0.timestamp, service: $0.service, replica: $0.replica, stream: $0.stream.rawValue, message: $0.message) })
                try await AlertDelivery.post(url: target.url, body: body, headers: [])
                buffer.markSent(batch.count)
            } catch {
                buffer.markDropped(batch.count)
                logger.warning("log drain POST failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
