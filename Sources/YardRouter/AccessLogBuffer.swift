import Synchronization

/// Carries the router's access log entries from its event loops to the task that writes
/// them. Adding never blocks and never grows past `capacity`: when the writer falls behind,
/// new entries are dropped and counted. (In YardRouter so the proxy benchmark measures the
/// same path with metrics on.)
///
/// The writer is woken in batches, not per request: when `batchSize` entries are waiting, or
/// by a tick every `flushInterval` when fewer are. Waking it for each entry (an `AsyncStream`
/// yield, a task resumed on another thread, a batch of one to count and write) cost the
/// router more than the request metrics' 5 % budget (docs/performance.md).
public final class AccessLogBuffer: Sendable {
    private struct State {
        var entries: [AccessLogEntry] = []
        var dropped = 0
    }

    public let capacity: Int
    /// Entries that wake the writer at once.
    public let batchSize: Int
    /// The longest fewer entries wait before the writer is woken.
    public let flushInterval: Duration
    private let state = Mutex(State())
    /// One element whenever a batch is ready (or the tick finds entries waiting).
    public let arrivals: AsyncStream<Void>
    private let arrivalsContinuation: AsyncStream<Void>.Continuation
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    public init(capacity: Int = 10_000, batchSize: Int = 64, flushInterval: Duration = .milliseconds(200)) {
        self.capacity = capacity
        self.batchSize = max(1, min(batchSize, capacity))
        self.flushInterval = flushInterval
        (arrivals, arrivalsContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let task = Task { [weak self, flushInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: flushInterval)
                guard let self else { return }
                if self.state.withLock({ !$0.entries.isEmpty || $0.dropped > 0 }) { self.arrivalsContinuation.yield() }
            }
        }
        ticker.withLock { $0 = task }
    }

    deinit {
        ticker.withLock { $0?.cancel() }
    }

    /// Called on an event loop: takes the lock for an append, nothing else (the writer is
    /// woken once per `batchSize` entries).
    /// The entry is moved into the buffer, not copied.
    public func add(_ entry: consuming AccessLogEntry) {
        // Through an optional: a value captured by the closure would be copied into the array.
        var moving = Optional(entry)
        let batchReady = state.withLock { state -> Bool in
            guard state.entries.count < capacity else {
                state.dropped += 1
                return false
            }
            state.entries.append(moving.take()!)
            return state.entries.count == batchSize
        }
        if batchReady { arrivalsContinuation.yield() }
    }

    /// Everything buffered, oldest first, and how many entries were dropped since the last take.
    /// The buffer starts again with room for twice what it held (made before taking the lock),
    /// so the event loops' appends do not grow the array again after every take.
    public func take() -> (entries: [AccessLogEntry], dropped: Int) {
        let held = state.withLock { $0.entries.count }
        var fresh: [AccessLogEntry] = []
        fresh.reserveCapacity(min(capacity, max(batchSize, held * 2)))
        return state.withLock { state in
            swap(&state.entries, &fresh)
            defer { state.dropped = 0 }
            return (fresh, state.dropped)
        }
    }

    /// Ends `arrivals` (at shutdown) and the tick.
    public func finish() {
        ticker.withLock { $0?.cancel() }
        arrivalsContinuation.finish()
    }
}
