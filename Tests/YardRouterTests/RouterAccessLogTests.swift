import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
@testable import YardRouter

/// The access log entries a router hands its observer, collected for assertions.
final class AccessLogCollector: Sendable {
    private let entries = NIOLockedValueBox<[AccessLogEntry]>([])

    init(_ router: Router) {
        router.onAccessLog { [entries] entry in entries.withLockedValue { $0.append(entry) } }
    }

    var all: [AccessLogEntry] { self.entries.withLockedValue { $0 } }

    /// Waits until `count` entries arrived and returns them.
    func wait(for count: Int) async throws -> [AccessLogEntry] {
        _ = try await eventually { self.all.count >= count }
        return self.all
    }
}

@Suite("Router access log", .timeLimit(.minutes(2)))
struct RouterAccessLogTests {
    @Test func recordsProxiedRequestsWithReplicaBytesAndStatusButNoQueryOrCredentials() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { router, port in
                let log = AccessLogCollector(router)
                try await TestConnection.with(port: port) { connection in
                    let get = try await connection.request(
                        .GET, "/hello/world?token=s3cr3t-query", host: "App.Localhost:8080",
                        headers: [("Authorization", "Bearer s3cr3t-bearer"), ("Cookie", "session=s3cr3t-cookie")]
                    )
                    #expect(get.status == .ok)
                    let post = try await connection.request(.POST, "/echo", host: "app.localhost", body: "twelve bytes")
                    #expect(post.text == "twelve bytes")
                    let teapot = try await connection.request(.GET, "/status?code=418", host: "app.localhost")
                    #expect(teapot.status.code == 418)

                    let entries = try await log.wait(for: 3)
                    try #require(entries.count == 3)
                    let (first, second, third) = (entries[0], entries[1], entries[2])
                    #expect(first.host == "app.localhost")
                    #expect(first.method == "GET")
                    #expect(first.path == "/hello/world")
                    #expect(first.status == 200)
                    #expect(first.replicaID == "app-1")
                    #expect(first.bytesIn == 0)
                    #expect(first.bytesOut == get.body.readableBytes)
                    #expect(first.duration > .zero && first.duration < .seconds(5))
                    #expect(second.method == "POST")
                    #expect(second.path == "/echo")
                    #expect(second.bytesIn == 12)
                    #expect(second.bytesOut == 12)
                    #expect(second.replicaID == "app-1")
                    #expect(third.status == 418)
                    #expect(first.timestamp <= second.timestamp && second.timestamp <= third.timestamp)
                    // Nothing of the query string or the credentials is in any entry.
                    #expect(!"\(entries)".contains("s3cr3t"))
                }
            }
        }
    }

    @Test func thePathIsTheTargetWithoutQueryOrFragmentAndAtMostTheLimit() {
        let limit = AccessLogEntry.maxPathLength
        #expect(AccessLogEntry.path(ofTarget: "/") == "/")
        #expect(AccessLogEntry.path(ofTarget: "*") == "*")
        #expect(AccessLogEntry.path(ofTarget: "/a/b?token=secret") == "/a/b")
        #expect(AccessLogEntry.path(ofTarget: "/a#top?x") == "/a")
        #expect(AccessLogEntry.path(ofTarget: "?only=query") == "")
        #expect(AccessLogEntry.path(ofTarget: "/" + String(repeating: "a", count: limit - 1)).count == limit)
        #expect(AccessLogEntry.path(ofTarget: "/" + String(repeating: "a", count: limit)).count == limit)
        // Characters, not bytes, are counted against the limit.
        let wide = "/" + String(repeating: "é", count: limit + 10) + "?q=1"
        let path = AccessLogEntry.path(ofTarget: wide)
        #expect(path.count == limit)
        #expect(path.hasPrefix("/éé"))
        let fits = "/" + String(repeating: "é", count: 1000) + "?q=1"
        #expect(AccessLogEntry.path(ofTarget: fits) == "/" + String(repeating: "é", count: 1000))
    }

    @Test func recordsResponsesTheRouterGaveItselfWithNoReplica() async throws {
        let dead = Upstream(host: "127.0.0.1", port: try await deadPort(), replicaID: "dead-1")
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.holdTimeout = .milliseconds(200)
        let routes = ["idle.localhost": [], "dead.localhost": [dead]]
        try await withRouter(routes: routes, configuration: configuration) { router, port in
            let log = AccessLogCollector(router)
            try await TestConnection.with(port: port) { connection in
                let unknown = try await connection.request(host: "nowhere.localhost")
                #expect(unknown.status == .notFound)
                let held = try await connection.request(.GET, "/held", host: "idle.localhost")
                #expect(held.status == .serviceUnavailable)
                let dead = try await connection.request(.GET, "/x?y=z", host: "dead.localhost")
                #expect(dead.status == .badGateway)
            }
            try await TestConnection.with(port: port) { connection in
                let noHost = try await connection.request(.GET, "/", host: nil)
                #expect(noHost.status == .badRequest)
            }
            let entries = try await log.wait(for: 4)
            try #require(entries.count == 4)
            #expect(entries.map(\.status) == [404, 503, 502, 400])
            #expect(entries.map(\.host) == ["nowhere.localhost", "idle.localhost", "dead.localhost", "-"])
            #expect(entries.allSatisfy { $0.replicaID == nil })
            #expect(entries[1].path == "/held")
            #expect(entries[1].duration >= .milliseconds(180))
            #expect(entries[2].path == "/x")
            // The local error bodies are counted as bytes out.
            #expect(entries.allSatisfy { $0.bytesOut > 0 })
        }
    }

    @Test func aClientThatLeavesBeforeTheResponseIsLoggedAs499() async throws {
        try await withUpstreams(["slow-1"]) { upstreams in
            try await withRouter(routes: ["slow.localhost": [upstreams[0].upstream]]) { router, port in
                let log = AccessLogCollector(router)
                try await TestConnection.with(port: port) { connection in
                    let head = HTTPRequestHead(
                        version: .http1_1, method: .GET, uri: "/silent", headers: ["Host": "slow.localhost"])
                    try await connection.send(.head(head))
                    try await connection.send(.end(nil))
                    _ = try await eventually { upstreams[0].requests.count == 1 }
                }
                let entries = try await log.wait(for: 1)
                try #require(entries.count == 1)
                #expect(entries[0].status == AccessLogEntry.clientClosedStatus)
                #expect(entries[0].path == "/silent")
                #expect(entries[0].replicaID == "slow-1")
            }
        }
    }
}

@Suite("Router path-prefix routing", .timeLimit(.minutes(2)))
struct RouterPathPrefixTests {
    @Test func routesByLongestPrefixAndWakesAHeldPrefixRequestWhenItsRouteGetsAReplica() async throws {
        try await withUpstreams(["site-1", "api-1"]) { upstreams in
            let (site, api) = (upstreams[0].upstream, upstreams[1].upstream)
            let held = RouteTable(routes: [
                .init(host: "shop.localhost", upstreams: [site]),
                .init(host: "shop.localhost", pathPrefix: "/api", upstreams: []),
            ])
            try await withRouter(routes: [:]) { router, port in
                router.updateRoutes(held)
                try await TestConnection.with(port: port) { connection in
                    let page = try await connection.request(.GET, "/apiary", host: "shop.localhost")
                    #expect(page.upstreamName == "site-1")
                }
                // /api has no replica yet: the request waits; the path is forwarded as it came.
                async let answer = TestConnection.with(port: port) { connection in
                    try await connection.request(.GET, "/api/items?page=2", host: "shop.localhost")
                }
                #expect(try await eventually { router.heldRequestCount == 1 })
                router.updateRoutes(
                    RouteTable(routes: [
                        .init(host: "shop.localhost", upstreams: [site]),
                        .init(host: "shop.localhost", pathPrefix: "/api", upstreams: [api]),
                    ]))
                let response = try await answer
                #expect(response.status == .ok)
                #expect(response.upstreamName == "api-1")
                #expect(response.text.contains("uri: /api/items?page=2"))
            }
        }
    }
}
