import ArgumentParser
import Foundation
import YardControl
import YardServer

/// `yard serve`'s OpenTelemetry flags: where OTLP/HTTP goes, its headers (from a file), how often.
struct OTelServeOptions: ParsableArguments {
    @Option(
        help:
            "Export metrics, a span per proxied request and app log lines over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (/v1/traces, /v1/metrics and /v1/logs are added); the router then adds a traceparent to requests without one. Off by default."
    )
    var otlpEndpoint: String?

    @Option(help: "A file of headers every OTLP export carries, one 'Name: value' a line (an API key, say); keep it 0600.")
    var otlpHeadersFile: String?

    @Option(help: "How often metrics are exported and spans sent, e.g. 10s.")
    var otlpInterval = "10s"

    @Option(help: "Spans waiting for the collector at most; more are dropped and counted (a dead collector never slows the router).")
    var otlpQueueSize = 4096

    func validate() throws {
        _ = try DurationText.parse(otlpInterval, flag: "--otlp-interval")
        if let otlpEndpoint { try Self.checkEndpoint(otlpEndpoint) }
        if otlpHeadersFile != nil, otlpEndpoint == nil {
            throw ValidationError("--otlp-headers-file needs --otlp-endpoint (where the exports go)")
        }
        guard otlpQueueSize >= 1 else { throw ValidationError("--otlp-queue-size must be at least 1") }
    }

    func apply(to server: inout SwitchyardServer.Configuration) throws {
        guard let otlpEndpoint else { return }
        let interval = try DurationText.parse(otlpInterval, flag: "--otlp-interval")
        guard interval >= .seconds(1) else { throw ValidationError("--otlp-interval must be at least 1s") }
        var headers: [(String, String)] = []
        if let otlpHeadersFile {
            guard let text = try? String(contentsOfFile: otlpHeadersFile, encoding: .utf8) else {
                throw ValidationError("--otlp-headers-file: \(otlpHeadersFile) cannot be read; put one 'Name: value' a line in it")
            }
            headers = try Self.headers(text, file: otlpHeadersFile)
        }
        server.otlp = OTLPExportConfiguration(endpoint: otlpEndpoint, headers: headers, interval: interval, maxQueuedSpans: otlpQueueSize)
    }

    static func checkEndpoint(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil,
            url.query == nil
        else {
            throw ValidationError("--otlp-endpoint '\(text)' is not an http:// or https:// URL, e.g. http://127.0.0.1:4318")
        }
    }

    /// `Name: value` lines; blank lines and `#` comments skipped. Errors name the line, never its value.
    static func headers(_ text: String, file: String) throws -> [(String, String)] {
        var headers: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":"),
                case let name = trimmed[..<colon].trimmingCharacters(in: .whitespaces), !name.isEmpty,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) })
            else {
                throw ValidationError("--otlp-headers-file: \(file) line \(number + 1) is not 'Name: value' (the name letters, digits, - or _)")
            }
            headers.append((name, trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return headers
    }
}
