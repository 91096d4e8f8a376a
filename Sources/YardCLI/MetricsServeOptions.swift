import ArgumentParser
import Foundation
import YardAPI
import YardServer

/// `yard serve`'s metrics flags: how often the collector samples, and `/metrics`.
struct MetricsServeOptions: ParsableArguments {
    @Option(help: "Serve /metrics (Prometheus text format) on this HOST:PORT, a listener of its own (off by default), e.g. 127.0.0.1:9464.")
    var metricsAddress: String?

    @Option(help: "A file holding a token /metrics then asks for (Authorization: Bearer TOKEN); keep it 0600.")
    var metricsTokenFile: String?

    @Option(help: "How often replicas are sampled and a metrics point stored, e.g. 10s.")
    var metricsInterval = "10s"

    func validate() throws {
        _ = try DurationText.parse(metricsInterval, flag: "--metrics-interval")
        _ = try metricsAddress.map(Self.address)
        if metricsTokenFile != nil, metricsAddress == nil {
            throw ValidationError("--metrics-token-file needs --metrics-address (where /metrics listens)")
        }
    }

    func apply(to server: inout SwitchyardServer.Configuration) throws {
        let interval = try DurationText.parse(metricsInterval, flag: "--metrics-interval")
        guard interval >= .seconds(1) else { throw ValidationError("--metrics-interval must be at least 1s") }
        server.orchestrator.metricsInterval = interval
        guard let metricsAddress else { return }
        let (host, port) = try Self.address(metricsAddress)
        var token: String?
        if let metricsTokenFile {
            guard let text = try? String(contentsOfFile: metricsTokenFile, encoding: .utf8),
                case let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty
            else {
                throw ValidationError("--metrics-token-file: \(metricsTokenFile) cannot be read or is empty; put a token in it (one line)")
            }
            token = trimmed
        }
        server.metricsEndpoint = MetricsEndpoint.Configuration(host: host, port: port, token: token)
    }

    /// `HOST:PORT` (port 0 picks a free one).
    static func address(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
            colon != text.startIndex
        else {
            throw ValidationError("--metrics-address '\(text)' is not HOST:PORT, e.g. 127.0.0.1:9464")
        }
        return (String(text[..<colon]), port)
    }
}
