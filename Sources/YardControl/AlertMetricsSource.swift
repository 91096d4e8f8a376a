import Foundation

/// What the router answered for one service over a window, as alert rules read it.
public struct RequestSummary: Sendable, Equatable, Codable {
    /// Requests answered (any status).
    public var requests: Int
    /// Of those, answers with a 5xx status.
    public var serverErrors: Int
    /// The 95th percentile of response time in milliseconds, nil with no requests.
    public var p95Milliseconds: Double?

    public init(requests: Int, serverErrors: Int, p95Milliseconds: Double?) {
        self.requests = requests
        self.serverErrors = serverErrors
        self.p95Milliseconds = p95Milliseconds
    }

    /// The share of 5xx answers, 0 with no requests.
    public var errorRate: Double { requests == 0 ? 0 : Double(serverErrors) / Double(requests) }
}

/// The seam between the metrics collector (which implements it) and alert rules (which
/// read it). Every answer covers the service's replicas in one environment; nil means
/// nothing is known yet (no sample in the window), which never fires a rule.
public protocol AlertMetricsSource: Sendable {
    /// Requests to the service's domains over the last `window`.
    func requestSummary(serviceID: String, environmentID: String, over window: Duration) async -> RequestSummary?
    /// The lowest, over the last `window`, of the highest replica's memory use as a share
    /// of its limit (0...1): above N for the whole window means "above N for Y minutes".
    func memoryFraction(serviceID: String, environmentID: String, over window: Duration) async -> Double?
    /// The service's volume use as a share of its size (0...1), nil without a volume.
    func volumeFraction(serviceID: String, environmentID: String) async -> Double?
}
