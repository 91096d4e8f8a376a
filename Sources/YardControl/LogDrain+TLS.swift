import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import YardCore

/// Syslog over TLS (RFC 5425) for `tls://host:port` drains: the receiver's certificate is
/// verified against the system's CAs and `yard serve --drain-ca-file`, and its name (or, for
/// an address, its IP) must match; there is no switch to turn verification off.
public enum SyslogTLS {
    static func context(trustedCertificateFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if let trustedCertificateFile { configuration.additionalTrustRoots = [.file(trustedCertificateFile)] }
        return try NIOSSLContext(configuration: configuration)
    }

    /// A bootstrap that starts TLS on connect when `tls` is given (SNI with a host name; an
    /// address is checked against the certificate's IP names).
    static func bootstrap(tls: NIOSSLContext?, host: String) -> ClientBootstrap {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(5))
        guard let tls else { return bootstrap }
        let serverName = isAddress(host) ? nil : host
        return bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
            }
        }
    }

    static func isAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: 0)) != nil
    }

    /// Checks `--drain-ca-file` at start: a readable PEM file with at least one certificate.
    public static func validate(certificateFile path: String) throws {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw YardError(.invalidConfig, "--drain-ca-file: cannot read certificates from \(path): \(error); give a PEM file")
        }
        guard !certificates.isEmpty else {
            throw YardError(.invalidConfig, "--drain-ca-file: \(path) holds no PEM certificate")
        }
    }
}
