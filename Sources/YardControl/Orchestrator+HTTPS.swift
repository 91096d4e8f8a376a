import Foundation
import YardCore
import YardRouter

/// A certificate and key a user gives for a domain, as PEM text.
public struct DomainCertificateUpload: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}

extension Orchestrator {
    /// The router's HTTPS port, for the URLs the API shows; nil when HTTPS is off.
    public func setHTTPSPort(_ port: Int?) {
        httpsPort = port
    }

    /// The domain's HTTPS URL, nil when HTTPS is off.
    public func httpsURL(forHostname hostname: String) -> String? {
        guard let httpsPort, certificates != nil else { return nil }
        return httpsPort == 443 ? "https://\(hostname)" : "https://\(hostname):\(httpsPort)"
    }

    /// Where the domain's certificate comes from, nil when HTTPS is off.
    public nonisolated func certificateSource(forHostname hostname: String) -> TLSCertificate.Source? {
        certificates?.source(forHost: hostname)
    }

    /// Parses the upload and checks it can serve `host` now: PEM, key matching, names, dates.
    func checkedCertificate(_ upload: DomainCertificateUpload, forHost host: String) throws -> TLSCertificate {
        guard certificates != nil else {
            throw YardError(.invalidInput, "HTTPS is off on this server (yard serve --no-https); a certificate cannot be used")
        }
        let certificate = try TLSCertificate(
            certificatePEM: Array(upload.certificatePEM.utf8),
            privateKeyPEM: Array(upload.privateKeyPEM.utf8),
            source: .files
        )
        try certificate.validate(forHost: host)
        return certificate
    }

    /// Stores a checked certificate and serves it from the next handshake on.
    func installCertificate(_ certificate: TLSCertificate, upload: DomainCertificateUpload, forHost host: String) async throws {
        guard let certificates else { return }
        try await certificates.install(
            certificatePEM: Array(upload.certificatePEM.utf8),
            privateKeyPEM: Array(upload.privateKeyPEM.utf8),
            forHost: host
        )
        router.replaceCertificate(certificate, forHost: host)
    }
}
