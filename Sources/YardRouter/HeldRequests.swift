import NIOConcurrencyHelpers
import NIOCore

/// Requests waiting for a host that has no ready replica. A route table update that gives
/// such a host replicas (or removes it) wakes its waiters on their own event loops.
final class HeldRequests: Sendable {
    private struct Waiter: Sendable {
        var eventLoop: any EventLoop
        var wake: @Sendable () -> Void
    }

    private struct State {
        var waiters: [String: [UInt64: Waiter]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    /// Told the host of every request that starts waiting (a sleeping service wakes).
    private let observer = ObserverSlot<String>()

    func observe(_ observer: @escaping @Sendable (consuming String) -> Void) {
        self.observer.set(observer)
    }

    /// Registers a waiter for `host` (normalized); `wake` runs once on `eventLoop`.
    func add(host: String, eventLoop: any EventLoop, wake: @escaping @Sendable () -> Void) -> UInt64 {
        let id = self.state.withLockedValue { state in
            state.nextID &+= 1
            state.waiters[host, default: [:]][state.nextID] = Waiter(eventLoop: eventLoop, wake: wake)
            return state.nextID
        }
        self.observer.call(host)
        return id
    }

    func remove(host: String, id: UInt64) {
        self.state.withLockedValue { state in
            state.waiters[host]?[id] = nil
            if state.waiters[host]?.isEmpty == true { state.waiters[host] = nil }
        }
    }

    /// The number of requests held now, for status and tests.
    var count: Int {
        self.state.withLockedValue { $0.waiters.values.reduce(0) { $0 + $1.count } }
    }

    /// The hosts with held requests.
    var hosts: [String] {
        self.state.withLockedValue { Array($0.waiters.keys) }
    }

    /// Wakes the waiters of every host that `table` now gives replicas (on some route: a
    /// waiter whose own path still has none waits again) or no longer routes.
    func tableChanged(_ table: RouteTable) {
        let woken: [Waiter] = self.state.withLockedValue { state in
            var woken: [Waiter] = []
            for host in Array(state.waiters.keys) where table.mayServeOrRefuse(host: host) {
                woken += state.waiters.removeValue(forKey: host)?.values.map { $0 } ?? []
            }
            return woken
        }
        for waiter in woken {
            waiter.eventLoop.execute(waiter.wake)
        }
    }
}
