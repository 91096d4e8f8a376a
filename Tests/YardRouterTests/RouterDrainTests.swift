import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import YardRouter

/// Draining a replica that left the route table before it is stopped: requests on it
/// finish, its idle pooled connections close first, on every event loop.
@Suite("Router draining", .serialized, .timeLimit(.minutes(2)))
struct RouterDrainTests {
    @Test func aDrainEndsOnlyWhenEveryRequestOnTheReplicaHasFinished() async throws {
        try await withUpstreams(["old", "new"]) { upstreams in
            let (old, new) = (upstreams[0], upstreams[1])
            // Several loops: the requests and the pooled connections are spread over them.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
            try await withRouter(routes: ["app.localhost": [old.upstream]], eventLoopGroup: group) { router, port in
                // Pooled idle connections to the old replica, on several loops (the kernel
                // spreads connections over the loops' listeners by hash: all of 6 landed on
                // one loop about once in 250 runs, all of 12 about once in 180,000).
                let warmUps = 12
                for _ in 0..<warmUps {
                    let status = try await TestConnection.with(port: port) { try await $0.request(host: "app.localhost").status }
                    #expect(status == .ok)
                }
                #expect(old.acceptedConnections >= 2)
                #expect(old.closedConnections < old.acceptedConnections, "the router keeps idle connections to reuse")

                let finished = NIOLockedValueBox(0)
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    for _ in 0..<4 {
                        tasks.addTask {
                            // Long enough that all four overlap on a loaded machine (parallel runs).
                            let status = try await TestConnection.with(port: port) {
                                try await $0.request(.GET, "/slow?ms=2500", host: "app.localhost").status
                            }
                            finished.withLockedValue { $0 += 1 }
                            return status
                        }
                    }
                    #expect(try await eventually { old.peakSlowInFlight == 4 })
                    router.updateRoutes(RouteTable(routes: ["app.localhost": [new.upstream]]))
                    let began = ContinuousClock.now
                    let outcome = await router.drain(replicaIDs: ["old"], timeout: .seconds(10))
                    let waited = ContinuousClock.now - began

                    #expect(outcome.inFlightAtStart == 4)
                    #expect(outcome.isComplete)
                    #expect(waited >= .milliseconds(300), "the drain waited for the slow requests (\(waited))")
                    #expect(waited < .seconds(5))
                    // Stopping the replica now would cut nothing: every request on it has its response.
                    #expect(old.requests.count == warmUps + 4)
                    #expect(await router.inFlightCount(replicaIDs: ["old"]) == 0)
                    for try await status in tasks { #expect(status == .ok) }
                    #expect(finished.withLockedValue { $0 } == 4)
                }
                // Idle connections were closed and none came back to the pool: the replica
                // sees all its connections closed, so none can get a request as it dies.
                #expect(try await eventually { old.closedConnections == old.acceptedConnections })
                let after = try await TestConnection.with(port: port) { try await $0.request(host: "app.localhost") }
                #expect(after.upstreamName == "new")
                #expect(old.requests.count == warmUps + 4)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func aDrainOfAnIdleReplicaClosesItsPooledConnectionsAtOnce() async throws {
        try await withUpstreams(["old", "new"]) { upstreams in
            let (old, new) = (upstreams[0], upstreams[1])
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            try await withRouter(routes: ["app.localhost": [old.upstream]], eventLoopGroup: group) { router, port in
                for _ in 0..<4 {
                    _ = try await TestConnection.with(port: port) { try await $0.request(host: "app.localhost") }
                }
                #expect(old.closedConnections < old.acceptedConnections)
                router.updateRoutes(RouteTable(routes: ["app.localhost": [new.upstream]]))
                let began = ContinuousClock.now
                let outcome = await router.drain(replicaIDs: ["old"], timeout: .seconds(10))
                #expect(ContinuousClock.now - began < .seconds(1))
                #expect(outcome == Router.DrainOutcome(inFlightAtStart: 0, stillInFlight: 0))
                #expect(try await eventually { old.closedConnections == old.acceptedConnections })
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func aDrainStopsWaitingWhenItsTimeoutRunsOut() async throws {
        try await withUpstreams(["old", "new"]) { upstreams in
            let (old, new) = (upstreams[0], upstreams[1])
            try await withRouter(routes: ["app.localhost": [old.upstream]]) { router, port in
                let stuck = Task {
                    try? await TestConnection.with(port: port) { try await $0.request(.GET, "/silent", host: "app.localhost") }
                }
                let sent = try await eventually { old.requests.count == 1 }
                #expect(sent)
                router.updateRoutes(RouteTable(routes: ["app.localhost": [new.upstream]]))
                let began = ContinuousClock.now
                let outcome = await router.drain(replicaIDs: ["old"], timeout: .milliseconds(300))
                let waited = ContinuousClock.now - began
                #expect(outcome == Router.DrainOutcome(inFlightAtStart: 1, stillInFlight: 1))
                #expect(!outcome.isComplete)
                #expect(waited >= .milliseconds(250) && waited < .seconds(3))
                stuck.cancel()
            }
        }
    }
}
