/// When a health check tries again and how long each try may take: a pure value, so the
/// timing is tested without sockets or clocks.
///
/// A connect that gets no answer at all (no SYN-ACK, no refusal: the packet went nowhere) is
/// given up after `connectTimeout` and tried again at once on a new connection, rather than
/// waiting for the kernel's SYN retransmissions (1 s, then 3 s, 7 s …). A refusal or an
/// answer that is not 200 is tried again after `shortestPause` for the first `quickPhase`
/// (most apps start within it, and a refused connect costs next to nothing, so a replica is
/// seen within about 10 ms of listening, which a wake waits for), then after a tenth of the
/// time beyond it, up to `longestPause`: an app that takes a minute is asked four times a
/// second. A port check's connection must stay open for `settleTime`: one closed within it
/// was accepted by a port proxy (swarm's, the server's relay) with no app listening behind.
public struct HealthCheckSchedule: Sendable, Equatable {
    /// How one attempt ended, as far as the timing goes.
    public enum Outcome: Sendable, Equatable {
        /// The connect got no answer within `connectTimeout`.
        case connectTimedOut
        /// Anything else that was not a pass: refused, reset, a non-200 answer, no answer in time.
        case failed
    }

    /// How long a connect may wait for the other side's answer.
    public var connectTimeout: Duration
    /// How long the request may wait for its response head, once connected.
    public var answerTimeout: Duration
    public var shortestPause: Duration
    public var longestPause: Duration
    public var quickPhase: Duration
    /// How long a port check's connection must stay open to count.
    public var settleTime: Duration

    public init(
        connectTimeout: Duration = .seconds(1),
        answerTimeout: Duration = .seconds(2),
        shortestPause: Duration = .milliseconds(10),
        longestPause: Duration = .milliseconds(250),
        quickPhase: Duration = .seconds(2),
        settleTime: Duration = .milliseconds(150)
    ) {
        self.connectTimeout = connectTimeout
        self.answerTimeout = answerTimeout
        self.shortestPause = shortestPause
        self.longestPause = longestPause
        self.quickPhase = quickPhase
        self.settleTime = settleTime
    }

    /// The connect budget of an attempt starting with `remaining` left before the deadline.
    public func connectBudget(remaining: Duration) -> Duration {
        Self.clipped(connectTimeout, to: remaining)
    }

    /// The budget for request and response head, once connected with `remaining` left.
    public func answerBudget(remaining: Duration) -> Duration {
        Self.clipped(answerTimeout, to: remaining)
    }

    /// The pause before the next attempt, after one that ended with `outcome` when the check
    /// has been waiting for `elapsed` and `remaining` is left.
    public func pause(after outcome: Outcome, elapsed: Duration, remaining: Duration) -> Duration {
        switch outcome {
        case .connectTimedOut:
            // The attempt itself waited a whole connect timeout: send a new SYN now.
            return .zero
        case .failed:
            let grown = min(max((elapsed - quickPhase) / 10, shortestPause), longestPause)
            return max(min(grown, remaining), .zero)
        }
    }

    private static func clipped(_ budget: Duration, to remaining: Duration) -> Duration {
        min(budget, max(remaining, .milliseconds(1)))
    }
}
