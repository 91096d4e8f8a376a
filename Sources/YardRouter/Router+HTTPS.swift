import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import YardCore

/// Supplies the certificate of a routed hostname the HTTPS listener has none for yet.
public protocol CertificateSource: Sendable {
    /// The certificate to serve for `host` (normalized, routed). Called during a handshake,
    /// so it should be quick once a certificate exists.
    func certificate(forHost host: String) async throws -> TLSCertificate
}

extension Router {
    /// The HTTPS listener: same routes and proxying as the HTTP one, behind TLS, with the
    /// certificate chosen by the client's server name (SNI).
    public struct HTTPSConfiguration: Sendable {
        /// The port to listen on (same address as HTTP); 0 picks a free one.
        public var port: Int
        /// Where certificates of hosts not yet served come from.
        public var certificates: any CertificateSource

        public init(port: Int, certificates: any CertificateSource) {
            self.port = port
            self.certificates = certificates
        }
    }

    /// The bound HTTPS port once `run()` listens (after `boundPort()` returns), nil without HTTPS.
    public func boundHTTPSPort() async throws -> Int? {
        _ = try await self.boundPort()
        return self.https.port.withLockedValue { $0 }
    }

    /// Serves `certificate` for `host` from the next handshake on (nil forgets it, so the
    /// certificate source is asked again). Connections already open keep theirs.
    public func replaceCertificate(_ certificate: TLSCertificate?, forHost host: String) {
        let name = RouteTable.normalizedHost(host)
        self.https.certificates.withLockedValue { $0[name] = certificate }
    }

    /// Binds the HTTPS listener when one is configured.
    func bindHTTPS(host: String) async throws -> (any Channel)? {
        guard let https = self.configuration.https else { return nil }
        let context = try self.makeSNIContext(source: https.certificates)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: self.eventLoopGroup)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // Accepted sockets inherit TCP_NODELAY from the listener (NIO's default there).
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                        guard try self.admit(channel) else { return }
                        // The protocol is known once the handshake picked one (ALPN): h2 or HTTP/1.1.
                        try self.addProtocolNegotiation(to: channel)
                    }
                }
                .bind(host: host, port: https.port)
                .get()
        } catch {
            throw YardError(
                .unavailable,
                "the router could not listen for HTTPS on \(host):\(https.port) (\(error)); free that port, choose another with --https-port or turn HTTPS off with --no-https",
                cause: error
            )
        }
        let port = channel.localAddress?.port ?? https.port
        self.https.port.withLockedValue { $0 = port }
        self.logger.info("router listening for HTTPS", metadata: ["router.address": "\(host):\(port)"])
        return channel
    }

    /// A server context with no certificate of its own: every handshake gets the certificate
    /// of the name it asked for, or fails.
    private func makeSNIContext(source: any CertificateSource) throws -> NIOSSLContext {
        // `makeServerConfiguration` wants a key; the file is never read, since the key is dropped.
        var tls = NIOSSL.TLSConfiguration.makeServerConfiguration(certificateChain: [], privateKey: .file(""))
        tls.privateKey = nil
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = self.configuration.http2.isEnabled ? ["h2", "http/1.1"] : ["http/1.1"]
        tls.sslContextCallback = { [self] values, promise in
            self.selectCertificate(serverName: values.serverHostname, source: source, promise: promise)
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// Picks the certificate for a handshake. Names that are not routed here, and clients
    /// that send no server name, fail the handshake: there is no default certificate.
    private func selectCertificate(
        serverName: String?,
        source: any CertificateSource,
        promise: EventLoopPromise<NIOSSLContextConfigurationOverride>
    ) {
        let host = serverName.map { RouteTable.normalizedHost($0) } ?? ""
        guard !host.isEmpty else {
            self.logger.debug("TLS handshake refused: the client sent no server name (SNI)")
            promise.fail(HTTPSHandshakeRefusal(reason: "the client sent no server name (SNI)"))
            return
        }
        guard self.routes.upstreams(forHost: host) != nil else {
            self.logger.debug("TLS handshake refused: no domain is routed at the server name", metadata: ["tls.server_name": "\(host)"])
            promise.fail(HTTPSHandshakeRefusal(reason: "no domain \(host) is routed here"))
            return
        }
        if let certificate = self.https.certificates.withLockedValue({ $0[host] }), !certificate.isDueForRenewal() {
            promise.succeed(certificate.contextOverride)
            return
        }
        let https = self.https
        let logger = self.logger
        promise.completeWithTask {
            do {
                let certificate = try await source.certificate(forHost: host)
                // A certificate installed meanwhile (`replaceCertificate`) wins.
                let served = https.certificates.withLockedValue { certificates in
                    if let installed = certificates[host], !installed.isDueForRenewal() { return installed }
                    certificates[host] = certificate
                    return certificate
                }
                return served.contextOverride
            } catch {
                logger.warning(
                    "TLS handshake failed: no certificate for the server name",
                    metadata: ["tls.server_name": "\(host)", "error": "\(error)"]
                )
                throw error
            }
        }
    }
}

/// What the HTTPS listener keeps: certificates served per hostname and the bound port.
final class HTTPSState: Sendable {
    let certificates = NIOLockedValueBox([String: TLSCertificate]())
    let port = NIOLockedValueBox<Int?>(nil)
}

/// Why a handshake was refused (the client sees a TLS alert).
struct HTTPSHandshakeRefusal: Error, CustomStringConvertible {
    var reason: String
    var description: String { "TLS handshake refused: \(self.reason)" }
}
