import Synchronization

/// Carries the router's access log entries from its event loops to the task that writes
/// them. Adding never blocks and never grows past `capacity`: when the writer falls behind,
/// new entries are dropped and counted. (In YardRouter so the proxy benchmark measures the
/// same path with metrics on.)
public final class AccessLogBuffer: Sendable {
    private struct State {
        var entries: [AccessLogEntry] = []
        var dropped = 0
    }

    public let capacity: Int
    private let state = Mutex(State())
    /// One element whenever the buffer goes from empty to not empty.
    public let arrivals: AsyncStream<Void>
    private let arrivalsContinuation: AsyncStream<Void>.Continuation

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
        (arrivals, arrivalsContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Called on an event loop: takes the lock for an append, nothing else.
    public func add(_ entry: AccessLogEntry) {
        let wasEmpty = state.withLock { state -> Bool in
            guard state.entries.count < capacity else {
                state.dropped += 1
                return false
            }
            state.entries.append(entry)
            return state.entries.count == 1
        }
        if wasEmpty { arrivalsContinuation.yield() }
    }

    /// Everything buffered, oldest first, and how many entries were dropped since the last take.
    public func take() -> (entries: [AccessLogEntry], dropped: Int) {
        state.withLock { state in
            defer { state = State() }
            return (state.entries, state.dropped)
        }
    }

    /// Ends `arrivals` (at shutdown).
    public func finish() {
        arrivalsContinuation.finish()
    }
}
