import Foundation
import YardCore
import YardRuntime
import YardStore

/// One notification, in the words every channel renders its own way.
public struct AlertMessage: Sendable, Equatable {
    /// `Deployment.failed` for deployment events (Railway's webhook types), else
    /// `Alert.triggered`, `Alert.repeated`, `Alert.resolved`, `Alert.test`.
    public var type: String
    /// `CRITICAL` (fired, repeated), `INFO` (resolved, test).
    public var severity: String
    public var title: String
    public var text: String
    public var at: Date
    public var projectID: String?
    public var projectName: String?
    public var environmentID: String?
    public var environmentName: String?
    public var serviceID: String?
    public var serviceName: String?
    public var deploymentID: String?
    public var ruleID: String?
    public var kind: String?
    /// `firing` or `resolved`.
    public var state: String?

    public init(type: String, severity: String, title: String, text: String, at: Date = Date()) {
        self.type = type
        self.severity = severity
        self.title = title
        self.text = text
        self.at = at
    }

    /// The signed webhook's body: Railway's webhook payload shape (`type`, `details`,
    /// `resource.{project,environment,service,deployment}`, `severity`, `timestamp`).
    public func webhookPayload() throws -> Data {
        struct Named: Encodable {
            var id: String?
            var name: String?
        }
        struct Resource: Encodable {
            var project: Named?
            var environment: Named?
            var service: Named?
            var deployment: Named?
        }
        struct Details: Encodable {
            var id: String?
            var rule: String?
            var kind: String?
            var state: String?
            var title: String
            var message: String
        }
        struct Payload: Encodable {
            var type: String
            var details: Details
            var resource: Resource
            var severity: String
            var timestamp: String
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let payload = Payload(
            type: type,
            details: Details(id: deploymentID, rule: ruleID, kind: kind, state: state, title: title, message: text),
            resource: Resource(
                project: projectID.map { Named(id: $0, name: projectName) },
                environment: environmentID.map { Named(id: $0, name: environmentName) },
                service: serviceID.map { Named(id: $0, name: serviceName) },
                deployment: deploymentID.map { Named(id: $0, name: nil) }),
            severity: severity, timestamp: formatter.string(from: at))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(payload)
    }

    /// Slack's incoming webhook (`text`) and Discord's (`content`).
    public func chatPayload(field: String) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode([field: "*\(title)*\n\(text)"])
    }

    /// The email's body.
    public var mailBody: String {
        var lines = [title, "", text, ""]
        if let projectName { lines.append("Project: \(projectName)") }
        if let environmentName { lines.append("Environment: \(environmentName)") }
        if let serviceName { lines.append("Service: \(serviceName)") }
        if let deploymentID { lines.append("Deployment: \(deploymentID)") }
        lines.append("At: \(ISO8601DateFormatter().string(from: at))")
        return lines.joined(separator: "\n")
    }
}

/// Sends one message to one channel, once (the engine retries).
public enum AlertDelivery {
    static func send(_ message: AlertMessage, to channel: AlertChannelRecord, mail: AlertMailConfiguration?) async throws {
        switch channel.kind {
        case .webhook:
            let body = try message.webhookPayload()
            let timestamp = Int(Date().timeIntervalSince1970)
            let signature = AlertWebhookSignature.signature(body: body, timestamp: timestamp, secret: channel.secret ?? "")
            try await post(
                url: channel.target, body: body,
                headers: [
                    (AlertWebhookSignature.timestampHeader, String(timestamp)), (AlertWebhookSignature.signatureHeader, signature),
                    ("X-Yard-Event", message.type),
                ])
        case .slack:
            try await post(url: channel.target, body: try message.chatPayload(field: "text"), headers: [])
        case .discord:
            try await post(url: channel.target, body: try message.chatPayload(field: "content"), headers: [])
        case .email:
            guard let mail else {
                throw YardError(.unavailable, "no SMTP relay is configured: start `yard serve` with --smtp-url and --smtp-from")
            }
            try await AlertSMTPClient.send(mail, to: channel.target, subject: "[switchyard] \(message.title)", body: message.mailBody)
        }
    }

    /// POSTs JSON with curl (HTTPS, proxies, redirects refused). The URL (a Slack URL is a
    /// token) and the headers go in curl's config on stdin, never in argv.
    static func post(url: String, body: Data, headers: [(String, String)]) async throws {
        var config = [
            "url = \(quoted(url))", "request = \"POST\"", "silent", "show-error", "fail", "max-time = 15", "proto = \"=http,https\"",
            "header = \"Content-Type: application/json\"", "header = \"User-Agent: switchyard-alerts\"",
            "data-binary = \(quoted(String(decoding: body, as: UTF8.self)))",
        ]
        config += headers.map { "header = \(quoted("\($0.0): \($0.1)"))" }
        let result = try await SystemCommand("/usr/bin/curl", ["--config", "-"], input: config.joined(separator: "\n") + "\n").result()
        guard result.status == 0 else {
            let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: url, with: "<url>")
            throw YardError(.unavailable, "the POST failed (curl exit \(result.status)): \(detail.prefix(300))")
        }
    }

    /// A curl config string: quotes and backslashes escaped, no raw line breaks.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.append(character)
            }
        }
        return out + "\""
    }

    /// The target as shown: a URL without its path and query (Slack's and Discord's hold a
    /// token), an address as it is.
    static func shownTarget(_ channel: AlertChannelRecord) -> String {
        channel.kind == .email ? channel.target : shownURL(channel.target)
    }

    /// `scheme://host[:port]`, then `/…` when a path or query was cut off.
    public static func shownURL(_ text: String) -> String {
        guard let url = URLComponents(string: text), let host = url.host else { return "(not a URL)" }
        let port = url.port.map { ":\($0)" } ?? ""
        let cut = !(url.path.isEmpty || url.path == "/") || url.query != nil
        return "\(url.scheme ?? "https")://\(host)\(port)" + (cut ? "/…" : "")
    }
}
