import NIOCore

extension Router {
    /// What `drain(replicaIDs:timeout:)` found.
    public struct DrainOutcome: Sendable, Equatable {
        /// Requests in flight on the replicas when the drain began.
        public var inFlightAtStart: Int
        /// Requests still in flight when it ended: more than zero only when the timeout ran
        /// out (or the waiting task was cancelled).
        public var stillInFlight: Int

        public init(inFlightAtStart: Int, stillInFlight: Int) {
            self.inFlightAtStart = inFlightAtStart
            self.stillInFlight = stillInFlight
        }

        /// Whether every request on the replicas finished.
        public var isComplete: Bool { self.stillInFlight == 0 }
    }

    /// Drains replicas that have left the route table, before they are stopped: on every
    /// event loop their idle pooled connections are closed at once (no new request may land
    /// on a connection about to die), connections that come back from a request are closed
    /// instead of pooled, and this waits until no request holds or waits for a connection to
    /// them, at most `timeout`. Requests already sent finish normally. Upgraded connections
    /// (WebSockets) are not waited for: see `closeTunnels(toReplicas:timeout:)`.
    ///
    /// Take the replicas out of the route table first (`updateRoutes(_:)`); otherwise new
    /// requests keep arriving and the drain lasts until `timeout`.
    public func drain(replicaIDs: Set<String>, timeout: Duration) async -> DrainOutcome {
        guard !replicaIDs.isEmpty else { return DrainOutcome(inFlightAtStart: 0, stillInFlight: 0) }
        let token = self.nextDrainToken.withLockedValue { next in
            defer { next += 1 }
            return next
        }
        let pools = self.allPools()
        var inFlightAtStart = 0
        var drained: [EventLoopFuture<Void>] = []
        for pool in pools {
            // Submitted, so it runs after whatever the loop is doing: a request that picked
            // one of the replicas just before the route table changed has leased by then.
            let started = pool.eventLoop.submit { (pool.inFlightCount(replicaIDs: replicaIDs), pool.drain(token: token, replicaIDs: replicaIDs)) }
            guard let begun = try? await started.get() else { continue }
            inFlightAtStart += begun.0
            drained.append(begun.1)
        }
        let all = EventLoopFuture.andAllComplete(drained, on: self.eventLoopGroup.any())
        let stillInFlight = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await all.get()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let finished = await group.next() ?? false
            let stillInFlight = finished ? 0 : await self.inFlightCount(replicaIDs: replicaIDs, pools: pools)
            // Ending the drain completes `all` if the timeout came first.
            for pool in pools {
                try? await pool.eventLoop.submit { pool.endDrain(token: token, replicaIDs: replicaIDs) }.get()
            }
            group.cancelAll()
            return stillInFlight
        }
        return DrainOutcome(inFlightAtStart: inFlightAtStart, stillInFlight: stillInFlight)
    }

    /// Requests holding or waiting for a connection to any of `replicaIDs`, on every loop
    /// (tests and logs).
    public func inFlightCount(replicaIDs: Set<String>) async -> Int {
        await self.inFlightCount(replicaIDs: replicaIDs, pools: self.allPools())
    }

    private func inFlightCount(replicaIDs: Set<String>, pools: [UpstreamConnectionPool]) async -> Int {
        var count = 0
        for pool in pools {
            count += (try? await pool.eventLoop.submit { pool.inFlightCount(replicaIDs: replicaIDs) }.get()) ?? 0
        }
        return count
    }
}
