import NIOCore
import NIOHPACK
import NIOHTTP1
import Testing

@testable import YardRouter

@Suite("Header rewriting")
struct ProxyMessagesTests {
    @Test func forwardsWithForwardingHeadersAndWithoutHopByHopHeaders() {
        let head = HTTPRequestHead(
            version: .http1_0,
            method: .POST,
            uri: "/submit?x=1",
            headers: [
                "Host": "Shop.Example.com:8080",
                "Connection": "keep-alive, X-Private-Hop",
                "X-Private-Hop": "1",
                "Keep-Alive": "timeout=5",
                "Proxy-Connection": "keep-alive",
                "Upgrade": "websocket",
                "TE": "trailers",
                "Trailer": "X-Checksum",
                "X-Forwarded-For": "198.51.100.7, 10.0.0.2",
                "X-Forwarded-Proto": "https",
                "Content-Length": "12",
                "Authorization": "Bearer t",
            ]
        )
        let forwarded = head.forwardedUpstream(clientIP: "192.0.2.1")
        #expect(forwarded.version == .http1_1)
        #expect(forwarded.method == .POST)
        #expect(forwarded.uri == "/submit?x=1")
        #expect(forwarded.headers["host"] == ["Shop.Example.com:8080"])
        // The client is not a trusted proxy: its own X-Forwarded-For is replaced, not appended to.
        #expect(forwarded.headers["x-forwarded-for"] == ["192.0.2.1"])
        #expect(forwarded.headers["x-forwarded-proto"] == ["http"])
        #expect(forwarded.headers["x-forwarded-host"] == ["Shop.Example.com:8080"])
        #expect(forwarded.headers["content-length"] == ["12"])
        #expect(forwarded.headers["authorization"] == ["Bearer t"])
        for name in ["connection", "x-private-hop", "keep-alive", "proxy-connection", "upgrade", "te", "trailer"] {
            #expect(!forwarded.headers.contains(name: name), "\(name) was forwarded")
        }
    }

    @Test func theEdgesForwardingFieldsFollowTheClientsInAFixedOrder() {
        let head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/", headers: ["Host": "shop.localhost", "Accept": "*/*"])
        let forwarded = head.forwardedUpstream(peer: ForwardingPeer(address: "192.0.2.1", localPort: 8443), overTLS: true)
        #expect(
            forwarded.headers.map(\.name) == [
                "Host", "Accept", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-Host",
            ])
        #expect(
            forwarded.headers.map(\.value) == ["shop.localhost", "*/*", "192.0.2.1", "192.0.2.1", "8443", "https", "shop.localhost"])
        // No peer (no address known), no port: only what is known is set.
        let bare = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a"]).forwardedUpstream(peer: nil)
        #expect(bare.headers.map(\.name) == ["Host", "X-Forwarded-Proto", "X-Forwarded-Host"])
        let portless = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: [:])
            .forwardedUpstream(peer: ForwardingPeer(address: "192.0.2.1"))
        #expect(portless.headers.map(\.name) == ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto"])
    }

    @Test func keepsChunkedFramingAndFramingHeadersNamedInConnection() {
        let head = HTTPRequestHead(
            version: .http1_1,
            method: .PUT,
            uri: "/",
            headers: [
                "Host": "a", "Transfer-Encoding": "chunked", "Connection": "content-length, host, x-forwarded-for",
            ]
        )
        let forwarded = head.forwardedUpstream(clientIP: nil)
        #expect(forwarded.headers["transfer-encoding"] == ["chunked"])
        #expect(forwarded.headers["host"] == ["a"])
        #expect(!forwarded.headers.contains(name: "x-forwarded-for"))
        #expect(head.declaresBody)
        #expect(
            !HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Content-Length": "0"]).declaresBody
        )
    }

    @Test func relaysResponsesWithTheClientsConnectionSemantics() {
        let upstream = HTTPResponseHead(
            version: .http1_1,
            status: .ok,
            headers: [
                "Content-Type": "text/html", "Connection": "close", "Keep-Alive": "timeout=3",
                "Transfer-Encoding": "chunked",
            ]
        )
        let get11 = ClientRequestInfo(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"))
        let (relayed, keepAlive, _, _, _) = upstream.relayed(to: get11)
        #expect(keepAlive)
        #expect(relayed.version == .http1_1)
        #expect(relayed.headers["content-type"] == ["text/html"])
        for name in ["connection", "keep-alive", "transfer-encoding"] {
            #expect(!relayed.headers.contains(name: name))
        }

        // HTTP/1.0 with keep-alive: fine with a length, impossible without one.
        let get10 = ClientRequestInfo(
            HTTPRequestHead(version: .http1_0, method: .GET, uri: "/", headers: ["Connection": "keep-alive"])
        )
        let unknownLength = upstream.relayed(to: get10)
        #expect(unknownLength.head.version == .http1_0)
        #expect(!unknownLength.keepAlive)
        #expect(unknownLength.head.headers["connection"] == ["close"])
        var withLength = upstream
        withLength.headers.replaceOrAdd(name: "Content-Length", value: "5")
        let knownLength = withLength.relayed(to: get10)
        #expect(knownLength.keepAlive)
        #expect(knownLength.head.headers["connection"] == ["keep-alive"])
        // A HEAD response has no body, so its length does not matter.
        let head10 = ClientRequestInfo(
            HTTPRequestHead(version: .http1_0, method: .HEAD, uri: "/", headers: ["Connection": "keep-alive"])
        )
        #expect(upstream.relayed(to: head10).keepAlive)

        let closing = ClientRequestInfo(
            HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Connection": "close"])
        )
        let relayedClosing = withLength.relayed(to: closing)
        #expect(!relayedClosing.keepAlive)
        #expect(relayedClosing.head.headers["connection"] == ["close"])
    }

    @Test func aKeepAliveResponseToAKeepAliveClientIsRelayedAsItIs() {
        let get11 = ClientRequestInfo(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"))
        let keepAlive = HTTPResponseHead(
            version: .http1_1, status: .ok, headers: ["Content-Length": "2", "connection": "Keep-Alive"])
        #expect(keepAlive.headers.hasOnlyConnectionKeepAlive)
        let relayed = keepAlive.relayed(to: get11)
        #expect(relayed.keepAlive)
        #expect(relayed.head == keepAlive)
        // Anything more than that one value and the head is rebuilt without hop-by-hop headers.
        for headers: HTTPHeaders in [
            ["Content-Length": "2", "Connection": "keep-alive, X-Private-Hop", "X-Private-Hop": "1"],
            ["Content-Length": "2", "Connection": "keep-alive", "Keep-Alive": "timeout=5"],
            ["Content-Length": "2", "Connection": "keep-alive", "Connection": "keep-alive"],
            ["Content-Length": "2", "Connection": "close"],
        ] {
            #expect(!headers.hasOnlyConnectionKeepAlive, "\(headers)")
            let rebuilt = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers).relayed(to: get11)
            for name in ["connection", "keep-alive", "x-private-hop"] {
                #expect(!rebuilt.head.headers.contains(name: name), "\(headers)")
            }
        }
        // An HTTP/1.0 client or one closing its connection still gets its own `Connection`.
        let closing = ClientRequestInfo(
            HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Connection": "close"]))
        #expect(keepAlive.relayed(to: closing).head.headers["connection"] == ["close"])
    }

    @Test func oneScanFindsAConnectionKeepAliveAlone() {
        #expect(HeaderScan(["Content-Length": "2", "connection": "Keep-Alive"]) == [.hopByHop, .onlyConnectionKeepAlive])
        #expect(HeaderScan(["Connection": "keep-alive", "Keep-Alive": "timeout=5"]) == .hopByHop)
        #expect(HeaderScan(["Connection": "keep-alive", "Connection": "keep-alive"]) == .hopByHop)
        #expect(HeaderScan(["Connection": "keep-alive, Upgrade"]) == .hopByHop)
        #expect(HeaderScan(["Connection": "close"]) == .hopByHop)
        #expect(HeaderScan(["Upgrade": "websocket"]) == .hopByHop)
        #expect(
            HeaderScan(["Connection": "keep-alive", "Transfer-Encoding": "chunked"])
                == [.hopByHop, .transferEncoding, .onlyConnectionKeepAlive])
        #expect(HeaderScan(["Content-Type": "text/plain", "X-Forwarded-Proto": "https"]) == .forwarding)
        #expect(HeaderScan(["Content-Type": "text/plain"]).isEmpty)
    }

    /// The one pass over a request's fields finds what NIO's look-ups find, name by name.
    /// Whether the upstream's connection stays open is read from the one scan of the fields;
    /// it must say what NIO's `isKeepAlive` says, for both versions and every kind of
    /// `Connection` field, to both kinds of client.
    @Test func theUpstreamsKeepAliveFromTheScanIsNIOs() {
        let fieldSets: [[(String, String)]] = [
            [], [("Content-Length", "3")], [("Connection", "keep-alive")], [("connection", "Keep-Alive")],
            [("Connection", "close")], [("Connection", "Close")], [("Connection", "keep-alive, close")],
            [("Connection", "upgrade")], [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")],
            [("Keep-Alive", "timeout=5")], [("Transfer-Encoding", "chunked")], [("Upgrade", "h2c")],
            [("Connection", "keep-alive"), ("Connection", "close")], [("TE", "trailers"), ("Connection", "keep-alive")],
        ]
        let clients = [
            ClientRequestInfo(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")),
            ClientRequestInfo(HTTPRequestHead(version: .http1_0, method: .GET, uri: "/")),
        ]
        for fields in fieldSets {
            for version in [HTTPVersion.http1_1, .http1_0] {
                // Built from an array, as the parser builds them: no keep-alive hint inside.
                let head = HTTPResponseHead(version: version, status: .ok, headers: HTTPHeaders(fields))
                for client in clients {
                    #expect(head.relayed(to: client).upstreamKeepAlive == head.isKeepAlive, "\(version) \(fields)")
                }
            }
        }
    }

    @Test func oneRequestScanAgreesWithTheLookUps() {
        let heads: [HTTPHeaders] = [
            ["Host": "app.localhost", "User-Agent": "curl"],
            ["host": "a.example, b.example"],
            ["Host": "a.example", "HOST": "b.example"],
            ["Host": ",  ,a.example,"],
            ["Host": ""],
            ["User-Agent": "no host"],
            ["Host": "h", "Content-Length": " 12 ", "content-length": "13"],
            ["Host": "h", "Content-Length": "0"],
            ["Host": "h", "Transfer-Encoding": "chunked"],
            ["Host": "h", "Connection": "Upgrade", "Upgrade": "websocket"],
            ["Host": "h", "upgrade": "h2c"],
            ["Host": "h", "Connection": "keep-alive", "X-Forwarded-For": "1.2.3.4", "Contents": "x", "Hostname": "y"],
        ]
        for headers in heads {
            let scan = RequestHeadScan(headers)
            #expect(scan.host == headers.first(name: "host"), "\(headers)")
            #expect(scan.hasMoreThanOneHost == (headers[canonicalForm: "host"].count > 1), "\(headers)")
            #expect(scan.contentLength == headers.first(name: "content-length"), "\(headers)")
            #expect(scan.hasUpgrade == headers.contains(name: "upgrade"), "\(headers)")
            #expect(scan.fields == HeaderScan(headers), "\(headers)")
            let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: headers)
            let declared =
                headers.first(name: "content-length").map { $0.trimmingASCIISpaces != "0" }
                ?? headers.contains(name: "transfer-encoding")
            #expect(scan.declaresBody == declared, "\(headers)")
            #expect(ClientRequestInfo(head, scan: scan).keepAlive == (head.isKeepAlive && !head.asksForRefusedUpgrade), "\(headers)")
            #expect(head.forwardedUpstream(peer: nil, scanned: scan) == head.forwardedUpstream(peer: nil), "\(headers)")
        }
    }

    @Test func anHTTP2StreamGetsAKeepAliveHeadAsItIs() {
        let h2 = ClientRequestInfo(HTTPRequestHead(version: HTTPVersion(major: 2, minor: 0), method: .GET, uri: "/"))
        let upstream = HTTPResponseHead(
            version: .http1_1, status: .ok, headers: ["Content-Type": "text/plain", "Content-Length": "2", "Connection": "keep-alive"])
        let relayed = upstream.relayed(to: h2)
        #expect(relayed.head == upstream)
        #expect(relayed.keepAlive == h2.keepAlive)
        // The frame it becomes has no connection-specific field.
        #expect(HTTP2StreamCodec.responseBlock(relayed.head).map(\.name) == [":status", "content-type", "content-length"])
        // Anything more is rebuilt as before, and the codec drops what `Connection` names.
        let listing = HTTPResponseHead(
            version: .http1_1, status: .ok,
            headers: ["Content-Length": "2", "Connection": "keep-alive, X-Private", "X-Private": "1", "TE": "x"])
        let rebuilt = listing.relayed(to: h2)
        #expect(HTTP2StreamCodec.responseBlock(rebuilt.head).map(\.name) == [":status", "content-length"])
        let named = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Connection": "x-private", "X-Private": "1", "Date": "d"])
        #expect(HTTP2StreamCodec.responseBlock(named).map(\.name) == [":status", "date"])
    }

    /// The port and the connection's forwarding fields are formatted once, when the peer is made.
    @Test func theConnectionsForwardingFieldsAreFormattedOnce() {
        let peer = ForwardingPeer(address: "192.0.2.1", localPort: 8080)
        #expect(peer.localPortText == "8080")
        #expect(
            String(decoding: peer.fields, as: UTF8.self)
                == "X-Forwarded-For: 192.0.2.1\r\nX-Real-IP: 192.0.2.1\r\nX-Forwarded-Port: 8080\r\nX-Forwarded-Proto: http\r\n")
        #expect(String(decoding: peer.fieldsOverTLS, as: UTF8.self).hasSuffix("X-Forwarded-Proto: https\r\n"))
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a"])
        #expect(head.forwardedUpstream(peer: peer).headers["x-forwarded-port"] == ["8080"])
        let portless = ForwardingPeer(address: "192.0.2.1")
        #expect(!String(decoding: portless.fields, as: UTF8.self).contains("Port"))
        #expect(!head.forwardedUpstream(peer: portless).headers.contains(name: "x-forwarded-port"))
    }

    @Test func describesTimeoutsShortly() {
        #expect(TimeAmount.seconds(60).shortDescription == "60s")
        #expect(TimeAmount.minutes(15).shortDescription == "15m")
        #expect(TimeAmount.seconds(90).shortDescription == "90s")
        #expect(TimeAmount.milliseconds(500).shortDescription == "500ms")
        #expect(TimeAmount.milliseconds(1500).shortDescription == "1500ms")
        #expect(TimeAmount.microseconds(2600).shortDescription == "3ms")
    }

    @Test func localResponsesAreFramedPlainText() {
        let response = LocalResponse(
            status: .notFound,
            message: "no service",
            version: .http1_1,
            omitBody: false,
            closeConnection: false
        )
        #expect(response.head.status == .notFound)
        #expect(response.head.headers["content-type"] == ["text/plain; charset=utf-8"])
        #expect(response.head.headers["content-length"] == [String(response.body.utf8.count)])
        #expect(!response.head.headers.contains(name: "connection"))
        let closing = LocalResponse(
            status: .badGateway,
            message: "x",
            version: .http1_0,
            omitBody: false,
            closeConnection: true
        )
        #expect(closing.head.version == .http1_0)
        #expect(closing.head.headers["connection"] == ["close"])
    }
}
