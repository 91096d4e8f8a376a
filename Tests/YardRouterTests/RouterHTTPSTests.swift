import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
import YardRouter

/// The HTTPS listener with real TLS: certificates made by openssl, a NIOSSL client that
/// sends SNI and verifies the chain, real test upstreams behind the router.
@Suite("Router HTTPS", .timeLimit(.minutes(2)))
struct RouterHTTPSTests {
    /// Runs a router with HTTPS on port 0 serving `source`; `body` gets the router and both ports.
    func withHTTPSRouter(
        routes: [String: [Upstream]],
        source: any CertificateSource,
        _ body: (Router, _ httpPort: Int, _ httpsPort: Int) async throws -> Void
    ) async throws {
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.https = .init(port: 0, certificates: source)
        try await withRouter(routes: routes, configuration: configuration) { router, port in
            let httpsPort = try #require(try await router.boundHTTPSPort())
            #expect(httpsPort != port)
            try await body(router, port, httpsPort)
        }
    }

    @Test func twoDomainsOnOnePortGetTheirOwnCertificateBySNIAndReachTheirUpstreams() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource([
            "shop.localhost": try authority.loaded(["shop.localhost"], file: "shop"),
            "api.example.test": try authority.loaded(["api.example.test"], file: "api"),
        ])
        try await withUpstreams(["shop-1", "api-1"]) { upstreams in
            let routes = ["shop.localhost": [upstreams[0].upstream], "api.example.test": [upstreams[1].upstream]]
            try await withHTTPSRouter(routes: routes, source: source) { _, _, httpsPort in
                let ca = try authority.certificate
                let shop = try await httpsRequest(port: httpsPort, serverName: "shop.localhost", trusting: ca)
                #expect(shop.peerDNSNames == ["shop.localhost"])
                #expect(shop.response.status == .ok)
                #expect(shop.response.upstreamName == "shop-1")
                #expect(shop.response.receivedHeader("x-forwarded-proto") == ["https"])
                // The internal mark that says "came over TLS" never reaches the replica.
                #expect(shop.response.receivedHeader("x-forwarded-yard-tls").isEmpty)

                let api = try await httpsRequest(port: httpsPort, serverName: "api.example.test", trusting: ca)
                #expect(api.peerDNSNames == ["api.example.test"])
                #expect(api.response.upstreamName == "api-1")
                #expect(api.peerSerial != shop.peerSerial)

                // Certificates are asked for once per host, then served from the router's table.
                _ = try await httpsRequest(port: httpsPort, serverName: "shop.localhost", trusting: ca)
                #expect(source.requests.sorted() == ["api.example.test", "shop.localhost"])
            }
        }
    }

    @Test func anAcceptedHTTPSSocketHasNoDelayAndNotDebug() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource(["shop.localhost": try authority.loaded(["shop.localhost"], file: "shop")])
        try await withUpstreams(["shop-1"]) { upstreams in
            try await withHTTPSRouter(routes: ["shop.localhost": [upstreams[0].upstream]], source: source) { _, _, httpsPort in
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                let context = try NIOSSLContext(configuration: tls)
                let handshake = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
                let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: context, serverHostname: "shop.localhost"))
                            try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: handshake))
                        }
                    }
                    .connect(host: "127.0.0.1", port: httpsPort).get()
                defer { client.close(promise: nil) }
                // Once the handshake is done, the router has set the connection up, options first.
                try await handshake.futureResult.get()
                let accepted = OpenTCPSocket.all().filter { $0.localPort == httpsPort }
                #expect(accepted.count == 1)
                for socket in accepted {
                    #expect(socket.noDelay && !socket.debug)
                }
            }
        }
    }

    /// Succeeds `done` when the client's TLS handshake completes, fails it if the connection
    /// closes first.
    final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let done: EventLoopPromise<Void>
        private var completed = false
        init(done: EventLoopPromise<Void>) { self.done = done }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent, !self.completed {
                self.completed = true
                self.done.succeed()
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !self.completed {
                self.completed = true
                self.done.fail(ChannelError.eof)
            }
            context.fireChannelInactive()
        }
    }

    @Test func unroutedServerNamesAndMissingSNIFailTheHandshake() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource(["shop.localhost": try authority.loaded(["shop.localhost"], file: "shop")])
        try await withUpstreams(["shop-1"]) { upstreams in
            try await withHTTPSRouter(routes: ["shop.localhost": [upstreams[0].upstream]], source: source) { _, _, httpsPort in
                // No verification on the client: only the server's refusal can fail these.
                await #expect(throws: (any Error).self) {
                    _ = try await httpsRequest(port: httpsPort, serverName: "other.localhost", trusting: nil)
                }
                await #expect(throws: (any Error).self) {
                    _ = try await httpsRequest(port: httpsPort, serverName: nil, host: "shop.localhost", trusting: nil)
                }
                #expect(source.requests.isEmpty)
                let ok = try await httpsRequest(port: httpsPort, serverName: "shop.localhost", trusting: nil)
                #expect(ok.response.status == .ok)
            }
        }
    }

    @Test func aReplacedCertificateIsServedFromTheNextHandshakeWithoutRestart() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let first = try authority.loaded(["shop.localhost"], file: "first")
        let second = try authority.loaded(["shop.localhost", "www.shop.localhost"], file: "second")
        let source = StaticCertificateSource(["shop.localhost": first])
        try await withUpstreams(["shop-1"]) { upstreams in
            try await withHTTPSRouter(routes: ["shop.localhost": [upstreams[0].upstream]], source: source) { router, _, httpsPort in
                let ca = try authority.certificate
                let before = try await httpsRequest(port: httpsPort, serverName: "shop.localhost", trusting: ca)
                #expect(before.peerDNSNames == ["shop.localhost"])
                router.replaceCertificate(second, forHost: "Shop.Localhost")
                let after = try await httpsRequest(port: httpsPort, serverName: "shop.localhost", trusting: ca)
                #expect(after.peerDNSNames == ["shop.localhost", "www.shop.localhost"])
                #expect(after.response.status == .ok)
            }
        }
    }

    @Test func aWebSocketUpgradesOverHTTPS() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource(["ws.localhost": try authority.loaded(["ws.localhost"], file: "ws")])
        let replica = try await TestWebSocketUpstream.start()
        defer { Task { await replica.stop() } }
        try await withHTTPSRouter(routes: ["ws.localhost": [replica.upstream("ws-1")]], source: source) { router, _, httpsPort in
            var tls = NIOSSL.TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates([try authority.certificate])
            let context = try NIOSSLContext(configuration: tls)
            try await RawStream.with(port: httpsPort, tls: context, serverName: "ws.localhost") { stream in
                try await stream.send(
                    "GET /ws HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                let head = try await stream.readHead()
                #expect(head.hasPrefix("HTTP/1.1 101 "), "\(head)")
                let greeting = try #require(try await stream.readFrame())
                #expect(String(decoding: greeting.payload, as: UTF8.self) == "hello")
                // Frames cross the TLS connection both ways once the marker has left the pipeline.
                try await stream.send(RawStream.clientFrame(opcode: 0x1, Array("over tls".utf8)))
                let echo = try #require(try await stream.readFrame())
                #expect(String(decoding: echo.payload, as: UTF8.self) == "over tls")
                #expect(router.tunnelCount == 1)
            }
        }
    }

    @Test func aLocalCertificateCloseToExpiryIsAskedForAgain() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        // Issued for 10 days: inside the 30-day renewal window of local-authority certificates.
        let files = try authority.issue(["shop.localhost"], file: "shop")
        let local = try TLSCertificate(certificateFile: files.certificate, privateKeyFile: files.key, source: .localAuthority)
        #expect(local.isDueForRenewal())
        let source = StaticCertificateSource(["shop.localhost": local])
        try await withUpstreams(["shop-1"]) { upstreams in
            try await withHTTPSRouter(routes: ["shop.localhost": [upstreams[0].upstream]], source: source) { _, _, httpsPort in
                for _ in 0..<2 {
                    let exchange = try await httpsRequest(
                        port: httpsPort, serverName: "shop.localhost", trusting: try authority.certificate)
                    #expect(exchange.response.status == .ok)
                }
                #expect(source.requests == ["shop.localhost", "shop.localhost"])
            }
        }
    }

    @Test func plainHTTPCannotClaimHTTPS() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource(["shop.localhost": try authority.loaded(["shop.localhost"], file: "shop")])
        try await withUpstreams(["shop-1"]) { upstreams in
            try await withHTTPSRouter(routes: ["shop.localhost": [upstreams[0].upstream]], source: source) { _, httpPort, _ in
                try await TestConnection.with(port: httpPort) { connection in
                    let response = try await connection.request(
                        host: "shop.localhost",
                        headers: [("X-Forwarded-Proto", "https"), ("X-Forwarded-Yard-TLS", "guess")]
                    )
                    #expect(response.status == .ok)
                    #expect(response.receivedHeader("x-forwarded-proto") == ["http"])
                    #expect(response.receivedHeader("x-forwarded-yard-tls").isEmpty)
                }
            }
        }
    }
}

/// Parsing and checking certificates users give (`yard domain add --cert --key`).
@Suite("TLS certificates")
struct TLSCertificateTests {
    @Test func aMatchingPairCoveringTheHostIsAccepted() throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let certificate = try authority.loaded(["shop.example.test", "*.cdn.example.test"], file: "shop")
        try certificate.validate(forHost: "shop.example.test")
        try certificate.validate(forHost: "img.cdn.example.test")
        #expect(!certificate.covers("a.img.cdn.example.test"))
        #expect(!certificate.covers("cdn.example.test"))
        #expect(certificate.source == .files)
        // Its description never shows the key.
        #expect(!"\(certificate)".contains("PRIVATE"))
    }

    @Test func anRSACertificateServesAHandshake() async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let files = try authority.issue(["rsa.localhost"], file: "rsa", rsa: true)
        let certificate = try TLSCertificate(certificateFile: files.certificate, privateKeyFile: files.key, source: .files)
        try certificate.validate(forHost: "rsa.localhost")
        let source = StaticCertificateSource(["rsa.localhost": certificate])
        try await withUpstreams(["rsa-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.https = .init(port: 0, certificates: source)
            try await withRouter(routes: ["rsa.localhost": [upstreams[0].upstream]], configuration: configuration) { router, _ in
                let httpsPort = try #require(try await router.boundHTTPSPort())
                let exchange = try await httpsRequest(port: httpsPort, serverName: "rsa.localhost", trusting: try authority.certificate)
                #expect(exchange.peerDNSNames == ["rsa.localhost"])
                #expect(exchange.response.upstreamName == "rsa-1")
            }
        }
    }

    @Test func aKeyOfAnotherCertificateIsRejected() throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let shop = try authority.issue(["shop.example.test"], file: "shop")
        let other = try authority.issue(["other.example.test"], file: "other")
        let error = try #require(throws: YardErrorProbe.self) {
            try YardErrorProbe.catching {
                _ = try TLSCertificate(certificateFile: shop.certificate, privateKeyFile: other.key, source: .files)
            }
        }
        #expect(error.message.hasPrefix("private key: it does not match the certificate"))
        #expect(!error.message.contains("BEGIN"))
    }

    @Test func textThatIsNotPEMIsNamed() throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let shop = try authority.issue(["shop.example.test"], file: "shop")
        let certificatePEM = Array(try Data(contentsOf: shop.certificate))
        let keyPEM = Array(try Data(contentsOf: shop.key))
        let badCertificate = try #require(throws: YardErrorProbe.self) {
            try YardErrorProbe.catching {
                _ = try TLSCertificate(certificatePEM: Array("hello".utf8), privateKeyPEM: keyPEM, source: .files)
            }
        }
        #expect(badCertificate.message.hasPrefix("certificate: not a PEM certificate"))
        let badKey = try #require(throws: YardErrorProbe.self) {
            // A certificate where the key should be.
            try YardErrorProbe.catching {
                _ = try TLSCertificate(certificatePEM: certificatePEM, privateKeyPEM: certificatePEM, source: .files)
            }
        }
        #expect(badKey.message.hasPrefix("private key: not a PEM private key"))
    }

    @Test func expiredAndForeignCertificatesAreRejectedWithTheReason() throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let certificate = try authority.loaded(["shop.example.test"], file: "shop")
        let other = try #require(throws: YardErrorProbe.self) {
            try YardErrorProbe.catching { try certificate.validate(forHost: "www.example.test") }
        }
        #expect(other.message.contains("does not cover www.example.test (its DNS names: shop.example.test)"))
        // Issued for 10 days: a year from now it has expired, and the message says when.
        let expired = try #require(throws: YardErrorProbe.self) {
            try YardErrorProbe.catching {
                try certificate.validate(forHost: "shop.example.test", now: Date().addingTimeInterval(365 * 86400))
            }
        }
        let year = Calendar(identifier: .gregorian).component(.year, from: certificate.notValidAfter)
        #expect(expired.message.hasPrefix("certificate: it expired on \(year)-"))
    }
}

/// A YardError's message, so tests need not import YardCore.
struct YardErrorProbe: Error {
    var message: String

    static func catching(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            throw YardErrorProbe(message: "\(error)")
        }
    }
}
