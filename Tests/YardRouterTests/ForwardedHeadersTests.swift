import NIOCore
import NIOHTTP1
import Testing

@testable import YardRouter

/// Issue 13.13 and the Upgrade question: the edge sets the forwarding headers from the
/// connection, keeps a client's own only from `--trusted-proxy` addresses, and passes on
/// WebSocket upgrades only.
@Suite("Forwarding headers and upgrades")
struct ForwardedHeadersTests {
    static let spoofed: HTTPHeaders = [
        "Host": "shop.localhost",
        "X-Forwarded-For": "203.0.113.66",
        "x-forwarded-for": "10.0.0.1",
        "X-Real-IP": "203.0.113.66",
        "Forwarded": "for=203.0.113.66;proto=https",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "admin.internal",
        "X-Forwarded-Server": "edge",
    ]

    @Test("an untrusted client's forwarding headers are replaced with what the connection says")
    func untrustedClient() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: Self.spoofed)
        let forwarded = head.forwardedUpstream(peer: ForwardingPeer(address: "192.0.2.1", localPort: 8080))
        #expect(forwarded.headers["x-forwarded-for"] == ["192.0.2.1"])
        #expect(forwarded.headers["x-real-ip"] == ["192.0.2.1"])
        #expect(forwarded.headers["x-forwarded-port"] == ["8080"])
        #expect(forwarded.headers["x-forwarded-proto"] == ["http"])
        #expect(forwarded.headers["x-forwarded-host"] == ["shop.localhost"])
        #expect(!forwarded.headers.contains(name: "forwarded"))
        #expect(!forwarded.headers.contains(name: "x-forwarded-server"))
        #expect(forwarded.headers["host"] == ["shop.localhost"])
    }

    @Test("a trusted proxy's headers are kept and its own address appended")
    func trustedProxy() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: Self.spoofed)
        let forwarded = head.forwardedUpstream(peer: ForwardingPeer(address: "10.1.2.3", localPort: 8080, isTrustedProxy: true))
        #expect(forwarded.headers["x-forwarded-for"] == ["203.0.113.66, 10.0.0.1, 10.1.2.3"])
        #expect(forwarded.headers["x-real-ip"] == ["203.0.113.66"])
        #expect(forwarded.headers["forwarded"] == ["for=203.0.113.66;proto=https"])
        #expect(forwarded.headers["x-forwarded-port"] == ["443"])
        #expect(forwarded.headers["x-forwarded-proto"] == ["https"])
        #expect(forwarded.headers["x-forwarded-host"] == ["admin.internal"])
    }

    @Test("a trusted proxy that sends none gets the connection's values")
    func trustedProxyWithoutHeaders() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a.localhost"])
        let forwarded = head.forwardedUpstream(peer: ForwardingPeer(address: "10.1.2.3", localPort: 80, isTrustedProxy: true))
        #expect(forwarded.headers["x-forwarded-for"] == ["10.1.2.3"])
        #expect(forwarded.headers["x-real-ip"] == ["10.1.2.3"])
        #expect(forwarded.headers["x-forwarded-port"] == ["80"])
        #expect(forwarded.headers["x-forwarded-proto"] == ["http"])
    }

    @Test("trusted proxy ranges: CIDR, single hosts, IPv6, IPv4-mapped IPv6; bad input refused")
    func addressRanges() throws {
        let v4 = try #require(AddressRange("10.0.0.0/8"))
        #expect(v4.contains("10.200.3.4"))
        #expect(v4.contains("::ffff:10.1.1.1"))
        #expect(!v4.contains("11.0.0.1"))
        #expect(!v4.contains("not an address"))
        let host = try #require(AddressRange("192.0.2.7"))
        #expect(host.contains("192.0.2.7") && !host.contains("192.0.2.8"))
        #expect(host.description == "192.0.2.7/32")
        let odd = try #require(AddressRange("172.16.0.0/12"))
        #expect(odd.contains("172.31.255.255") && !odd.contains("172.32.0.0"))
        let v6 = try #require(AddressRange("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::5") && !v6.contains("2001:db9::1") && !v6.contains("10.0.0.1"))
        #expect(try #require(AddressRange("0.0.0.0/0")).contains("198.51.100.1"))
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/-1", "::/129", "10.0.0.0/8/9"] {
            #expect(AddressRange(bad) == nil, "\(bad) was accepted")
        }
    }

    @Test("only WebSocket upgrades pass; any other token is dropped and the connection closes after the answer")
    func onlyWebSocketUpgrades() {
        func head(_ upgrade: String) -> HTTPRequestHead {
            HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a", "Connection": "Upgrade", "Upgrade": upgrade])
        }
        #expect(head("websocket").upgradeProtocol == "websocket")
        #expect(head("WebSocket").upgradeProtocol == "websocket")
        #expect(!head("websocket").asksForRefusedUpgrade)
        #expect(ClientRequestInfo(head("websocket")).keepAlive)
        // A list naming websocket asks for it among others: only websocket goes on.
        #expect(head("websocket, h2c").upgradeProtocol == "websocket")
        #expect(head("websocket, h2c").forwardedUpstream(peer: nil).headers["upgrade"] == ["websocket"])
        for token in ["h2c", "tunnel", "raw", "h2c, tunnel", "TLS/1.0"] {
            #expect(head(token).upgradeProtocol == nil, "\(token) would be tunnelled")
            #expect(head(token).asksForRefusedUpgrade)
            #expect(!ClientRequestInfo(head(token)).keepAlive, "\(token): the connection must close after the answer")
            let forwarded = head(token).forwardedUpstream(peer: nil)
            #expect(!forwarded.headers.contains(name: "upgrade") && !forwarded.headers.contains(name: "connection"))
        }
    }

    @Test("a replica's 101 to a request whose upgrade was dropped closes the connection, never a tunnel")
    func unrequestedSwitchCloses() {
        var machine = ProxyConnectionStateMachine(maxRequestBodyBytes: 1 << 20)
        let upstream = Upstream(host: "127.0.0.1", port: 9, replicaID: "r1")
        let request = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a", "Connection": "Upgrade", "Upgrade": "tunnel"])
        _ = machine.requestHeadReceived(request, selection: .upstreams([upstream]), peer: nil)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.requestEndReceived(trailers: nil)
        let action = machine.responsePartReceived(.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols)))
        if case .upgrade = action { Issue.record("a 101 for a dropped upgrade became a tunnel") }
    }
}

/// The same through a real router: from an untrusted peer the headers are replaced, from a
/// `--trusted-proxy` peer they are kept and the hop appended.
@Suite("Forwarding headers through the router")
struct ForwardedHeadersRouterTests {
    @Test func untrustedAndTrustedPeers() async throws {
        let spoof: [(String, String)] = [
            ("X-Forwarded-For", "203.0.113.9"), ("X-Real-IP", "203.0.113.9"), ("Forwarded", "for=203.0.113.9"),
            ("X-Forwarded-Port", "1"),
        ]
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    _ = try await connection.request(host: "app.localhost", headers: spoof)
                    let received = try #require(upstreams[0].requests.last)
                    #expect(received.headers["x-forwarded-for"] == ["127.0.0.1"])
                    #expect(received.headers["x-real-ip"] == ["127.0.0.1"])
                    #expect(received.headers["x-forwarded-port"] == [String(port)])
                    #expect(!received.headers.contains(name: "forwarded"))
                }
            }
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.trustedProxies = [try #require(AddressRange("127.0.0.0/8"))]
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]], configuration: configuration) { _, port in
                try await TestConnection.with(port: port) { connection in
                    _ = try await connection.request(host: "app.localhost", headers: spoof)
                    let received = try #require(upstreams[0].requests.last)
                    #expect(received.headers["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"])
                    #expect(received.headers["x-real-ip"] == ["203.0.113.9"])
                    #expect(received.headers["x-forwarded-port"] == ["1"])
                    #expect(received.headers["forwarded"] == ["for=203.0.113.9"])
                }
            }
        }
    }
}

// The older tests name the client's address only; such a client is never a trusted proxy.
extension HTTPRequestHead {
    func forwardedUpstream(clientIP: String?) -> HTTPRequestHead {
        self.forwardedUpstream(peer: clientIP.map { ForwardingPeer(address: $0) })
    }
}

extension ProxyConnectionStateMachine {
    mutating func requestHeadReceived(_ head: HTTPRequestHead, selection: RouteSelection?, clientIP: String?) -> RequestAction {
        self.requestHeadReceived(head, selection: selection, peer: clientIP.map { ForwardingPeer(address: $0) })
    }
}
