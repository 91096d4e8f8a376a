import Crypto
import Foundation

/// What an alert rule watches (`yard alerts add KIND`).
public enum AlertKind: String, Codable, Sendable, CaseIterable {
    /// A deployment of the service FAILED (build, pre-deploy or start).
    case deploymentFailed = "deployment-failed"
    /// The live deployment CRASHED (every replica gave up).
    case crashed
    /// A replica was killed by the kernel for going over its memory limit.
    case oom
    /// A replica keeps restarting (3 restarts within 5 minutes, `RestartLoopWindow`): fires once, not per restart.
    case crashLoop = "crash-loop"
    /// A backup or its restore check failed.
    case backupFailed = "backup-failed"
    /// The share of 5xx answers over `--over` is above `--above` (a percentage).
    case errorRate = "error-rate"
    /// The p95 response time over `--over` is above `--above` (milliseconds).
    case latency
    /// The highest replica's memory use stayed above `--above` of its limit for `--over`.
    case memory
    /// The service's volume is fuller than `--above`.
    case volume
    /// A node of the cluster the service runs on is down (`ClusterNodeSource`; without a
    /// cluster the rule stays pending).
    case nodeDown = "node-down"

    /// Rules driven by events (the Notifier's); the others are evaluated against metrics.
    public var isEventDriven: Bool {
        switch self {
        case .deploymentFailed, .crashed, .oom, .crashLoop, .backupFailed: true
        case .errorRate, .latency, .memory, .volume, .nodeDown: false
        }
    }

    /// The unit `--above` takes, nil for event rules (which take no threshold).
    public var thresholdUnit: AlertThreshold.Unit? {
        switch self {
        case .errorRate, .memory, .volume: .percent
        case .latency: .milliseconds
        default: nil
        }
    }

    /// The Notifier events that make this rule's condition true.
    public var triggeringEvents: Set<String> {
        switch self {
        case .deploymentFailed: ["deployment.failed"]
        case .crashed: ["deployment.crashed"]
        case .oom: ["replica.oom-killed"]
        case .crashLoop: ["replica.restart-loop"]
        case .backupFailed: ["backup.failed", "backup.check-failed"]
        default: []
        }
    }

    /// The events after which the condition no longer holds (a deployment that went live
    /// ends a failure, a crash, an OOM and a restart loop; a backup whose restore check
    /// passed ends backup failures). Without one, an event rule resolves after `--over`
    /// without events.
    public var resolvingEvents: Set<String> {
        switch self {
        case .deploymentFailed, .crashed, .oom, .crashLoop: ["deployment.success"]
        case .backupFailed: ["backup.succeeded"]
        default: []
        }
    }

    /// Every kind, for error messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Parses a kind, with an error naming the known ones.
    public static func parse(_ text: String) throws -> AlertKind {
        guard let kind = AlertKind(rawValue: text.lowercased()) else {
            throw YardError(.invalidInput, "'\(text)' is not an alert kind: use one of \(names)")
        }
        return kind
    }
}

/// `--above 20%`, `--above 500ms`, `--above 1.5s`: a number with its unit.
public struct AlertThreshold: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Unit: String, Codable, Sendable { case percent, milliseconds }
    public var value: Double
    public var unit: Unit

    public init(value: Double, unit: Unit) {
        self.value = value
        self.unit = unit
    }

    /// Parses `20%`, `500ms`, `2s`; a bare number is refused (its unit would be a guess).
    public static func parse(_ text: String) throws -> AlertThreshold {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let forms: [(String, Unit, Double)] = [("%", .percent, 1), ("ms", .milliseconds, 1), ("s", .milliseconds, 1000)]
        for (suffix, unit, factor) in forms where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)), number >= 0, number.isFinite {
                if unit == .percent, number > 100 { break }
                return AlertThreshold(value: number * factor, unit: unit)
            }
        }
        throw YardError(
            .invalidInput, "--above '\(text)' needs a unit: a percentage (20%) for error-rate, memory and volume, a time (500ms, 2s) for latency")
    }

    public var description: String {
        switch unit {
        case .percent: "\(Self.format(value))%"
        case .milliseconds: "\(Self.format(value))ms"
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// `90s`, `1m`, `1h`, `7d`, `900` (seconds) as whole seconds, for `--over` and `--repeat`.
public enum AlertDurationText {
    public static func seconds(_ text: String, flag: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)), number > 0 { return max(1, Int(number * factor)) }
        }
        if let number = Double(trimmed), number > 0 { return max(1, Int(number)) }
        throw YardError(.invalidInput, "\(flag) '\(text)' is not a duration: use a number with s, m, h or d, e.g. 5m")
    }

    public static func text(_ seconds: Int) -> String {
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// Where alerts go.
public enum AlertChannelKind: String, Codable, Sendable, CaseIterable {
    /// A signed JSON POST (see `AlertWebhookSignature`).
    case webhook
    /// A Slack incoming webhook (`{"text": …}`).
    case slack
    /// A Discord webhook (`{"content": …}`).
    case discord
    /// Email over the server's SMTP relay (`yard serve --smtp-url`).
    case email
}

/// `POST /v1/projects/{project}/alerts/channels`.
public struct CreateAlertChannelRequest: Codable, Sendable, Hashable {
    public var name: String
    public var kind: AlertChannelKind
    /// The URL (webhook, slack, discord) or the email address.
    public var target: String

    public init(name: String, kind: AlertChannelKind, target: String) {
        self.name = name
        self.kind = kind
        self.target = target
    }
}

/// A channel as the API shows it: its target with any path or query (which often holds a
/// token, as Slack's do) cut off, and the signing secret only in the answer that made it.
public struct AlertChannelView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var kind: AlertChannelKind
    /// `https://hooks.slack.com/…` or the address.
    public var target: String
    /// A webhook channel's signing secret: only in the answer that created it.
    public var secret: String?
    /// Deliveries that failed after every retry, since the server started.
    public var failedDeliveries: Int

    public init(id: String, name: String, kind: AlertChannelKind, target: String, secret: String? = nil, failedDeliveries: Int = 0) {
        self.id = id
        self.name = name
        self.kind = kind
        self.target = target
        self.secret = secret
        self.failedDeliveries = failedDeliveries
    }
}

public struct AlertChannelListView: Codable, Sendable, Hashable {
    public var channels: [AlertChannelView]
    public init(channels: [AlertChannelView]) { self.channels = channels }
}

/// `POST /v1/projects/{project}/environments/{environment}/services/{service}/alerts`.
public struct CreateAlertRuleRequest: Codable, Sendable, Hashable {
    public var kind: String
    public var channel: String
    /// `20%`, `500ms`: required by error-rate, latency, memory and volume.
    public var above: String?
    /// The window (`1m`): error-rate and latency look at it, memory must hold for it, event
    /// rules resolve after it without events. Default 5m.
    public var over: String?
    /// How often a firing rule notifies again (`1h`, the default).
    public var `repeat`: String?

    public init(kind: String, channel: String, above: String? = nil, over: String? = nil, repeat: String? = nil) {
        self.kind = kind
        self.channel = channel
        self.above = above
        self.over = over
        self.repeat = `repeat`
    }
}

/// The state `yard alerts` shows: `pending` (nothing known yet), `ok`, `firing`, `resolved`.
public enum AlertState: String, Codable, Sendable {
    case pending, ok, firing, resolved
}

public struct AlertRuleView: Codable, Sendable, Hashable {
    public var id: String
    public var kind: AlertKind
    public var service: String
    public var environment: String
    public var channel: String
    public var above: String?
    public var overSeconds: Int
    public var repeatSeconds: Int
    public var state: AlertState
    /// When it last fired, resolved.
    public var firedAt: Date?
    public var resolvedAt: Date?
    /// The last observation's words (`error rate 48% over 1m`).
    public var detail: String?

    public init(
        id: String, kind: AlertKind, service: String, environment: String, channel: String, above: String?, overSeconds: Int,
        repeatSeconds: Int, state: AlertState, firedAt: Date? = nil, resolvedAt: Date? = nil, detail: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.service = service
        self.environment = environment
        self.channel = channel
        self.above = above
        self.overSeconds = overSeconds
        self.repeatSeconds = repeatSeconds
        self.state = state
        self.firedAt = firedAt
        self.resolvedAt = resolvedAt
        self.detail = detail
    }
}

public struct AlertRuleListView: Codable, Sendable, Hashable {
    public var rules: [AlertRuleView]
    public init(rules: [AlertRuleView]) { self.rules = rules }
}

/// What `yard alerts test CHANNEL` did.
public struct AlertTestResultView: Codable, Sendable, Hashable {
    public var delivered: Bool
    public var message: String
    public init(delivered: Bool, message: String) {
        self.delivered = delivered
        self.message = message
    }
}

/// Alert webhooks' signature: `X-Yard-Timestamp: <unix seconds>` and
/// `X-Yard-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, keyed with the
/// channel's secret. A receiver recomputes it over the raw body, compares in constant time,
/// and rejects a timestamp more than 5 minutes from its clock (a replay of a captured delivery).
public enum AlertWebhookSignature {
    public static let signatureHeader = "X-Yard-Signature"
    public static let timestampHeader = "X-Yard-Timestamp"
    /// Deliveries older (or newer) than this are replays.
    public static let tolerance: TimeInterval = 300

    public static func signature(body: Data, timestamp: Int, secret: String) -> String {
        var signed = Data("\(timestamp).".utf8)
        signed.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return "v1=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a delivery is authentic and fresh.
    public static func isValid(signature: String?, timestamp: String?, body: Data, secret: String, now: Date = Date()) -> Bool {
        guard let signature, let timestamp, let seconds = Int(timestamp), !secret.isEmpty,
            abs(now.timeIntervalSince1970 - Double(seconds)) <= tolerance,
            signature.hasPrefix("v1="), let code = Data(hexString: String(signature.dropFirst(3))), code.count == SHA256.byteCount
        else { return false }
        var signed = Data("\(seconds).".utf8)
        signed.append(body)
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: signed, using: SymmetricKey(data: Data(secret.utf8)))
    }
}

extension Data {
    /// Bytes from lowercase or uppercase hex; nil for anything else.
    init?(hexString: String) {
        let characters = Array(hexString.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes)
    }
}
