import Foundation
import NIOSSL
import YardCore

/// A certificate chain and its private key, parsed, ready to be served for a hostname.
///
/// Its `description` never shows the key.
public struct TLSCertificate: Sendable, CustomStringConvertible {
    /// Where a domain's certificate comes from.
    public enum Source: String, Sendable, Codable {
        /// PEM files the user gave (`yard domain add HOST --cert FILE --key FILE`).
        case files
        /// Issued by Switchyard's own certificate authority in the data directory.
        case localAuthority = "local"
    }

    /// The leaf first, then any intermediates.
    public let chain: [NIOSSLCertificate]
    let privateKey: NIOSSLPrivateKey
    public let source: Source

    /// Parses PEM text; checks that the key belongs to the leaf certificate.
    ///
    /// Errors name the part (`certificate`, `private key`) and what was wrong, never the key.
    public init(certificatePEM: [UInt8], privateKeyPEM: [UInt8], source: Source) throws {
        guard String(decoding: certificatePEM, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----"),
            let chain = try? NIOSSLCertificate.fromPEMBytes(certificatePEM), !chain.isEmpty
        else {
            throw YardError(.invalidInput, "certificate: not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)")
        }
        let keyText = String(decoding: privateKeyPEM, as: UTF8.self)
        if keyText.contains("ENCRYPTED") {
            throw YardError(
                .invalidInput,
                "private key: the key is encrypted with a passphrase; decrypt it first (openssl pkey -in KEY -out KEY.plain)"
            )
        }
        guard keyText.contains("PRIVATE KEY-----"),
            let key = try? NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem)
        else {
            throw YardError(.invalidInput, "private key: not a PEM private key (expected a -----BEGIN PRIVATE KEY----- block)")
        }
        // BoringSSL refuses a key that does not belong to the leaf when both are loaded.
        var configuration = NIOSSL.TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw YardError(
                .invalidInput,
                "private key: it does not match the certificate (\(Self.leafSummary(chain[0]))); give the key the certificate was issued for"
            )
        }
        self.chain = chain
        self.privateKey = key
        self.source = source
    }

    /// Reads a PEM certificate file and its key file.
    public init(certificateFile: URL, privateKeyFile: URL, source: Source) throws {
        try self.init(
            certificatePEM: Array(try Data(contentsOf: certificateFile)),
            privateKeyPEM: Array(try Data(contentsOf: privateKeyFile)),
            source: source
        )
    }

    /// The leaf certificate.
    public var leaf: NIOSSLCertificate { self.chain[0] }

    /// The DNS names of the leaf's subject alternative names, lower-cased.
    public var dnsNames: [String] {
        self.leaf._subjectAlternativeNames().compactMap { name in
            guard name.nameType == .dnsName else { return nil }
            return String(decoding: Array(name.contents), as: UTF8.self).lowercased()
        }
    }

    /// When the leaf stops being valid.
    public var notValidAfter: Date { Date(timeIntervalSince1970: TimeInterval(self.leaf.notValidAfter)) }

    /// When the leaf starts being valid.
    public var notValidBefore: Date { Date(timeIntervalSince1970: TimeInterval(self.leaf.notValidBefore)) }

    /// Whether a DNS name of the leaf covers `host`: equal, or a wildcard `*.parent` covering
    /// exactly one more label (RFC 6125 §6.4.3, the left-most label only).
    public func covers(_ host: String) -> Bool {
        let host = RouteTable.normalizedHost(host)
        return self.dnsNames.contains { name in
            if name == host { return true }
            guard name.hasPrefix("*.") else { return false }
            let parent = name.dropFirst(2)
            guard let dot = host.firstIndex(of: ".") else { return false }
            return host[host.index(after: dot)...] == parent && dot != host.startIndex
        }
    }

    /// Throws when the certificate cannot serve `host` at `now`: it does not name the host,
    /// it expired, or it is not valid yet.
    public func validate(forHost host: String, now: Date = Date()) throws {
        guard self.covers(host) else {
            let names = self.dnsNames.isEmpty ? "none" : self.dnsNames.joined(separator: ", ")
            throw YardError(
                .invalidInput,
                "certificate: it does not cover \(host) (its DNS names: \(names)); issue one with \(host) in its subject alternative names"
            )
        }
        guard self.notValidAfter > now else {
            throw YardError(.invalidInput, "certificate: it expired on \(Self.format(self.notValidAfter)); renew it")
        }
        guard self.notValidBefore <= now else {
            throw YardError(.invalidInput, "certificate: it is not valid before \(Self.format(self.notValidBefore))")
        }
    }

    /// Whether the source should be asked again: a local-authority certificate with less than
    /// `margin` left (the authority issues a new one). A user's certificate is served until
    /// they replace it.
    public func isDueForRenewal(now: Date = Date(), margin: TimeInterval = 30 * 24 * 3600) -> Bool {
        self.source == .localAuthority && self.notValidAfter.timeIntervalSince(now) < margin
    }

    /// What a handshake applies for this certificate.
    var contextOverride: NIOSSLContextConfigurationOverride {
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = self.chain.map { .certificate($0) }
        override.privateKey = .privateKey(self.privateKey)
        return override
    }

    public var description: String {
        "TLSCertificate(\(Self.leafSummary(self.leaf)), source: \(self.source.rawValue))"
    }

    private static func leafSummary(_ leaf: NIOSSLCertificate) -> String {
        let names = leaf._subjectAlternativeNames().compactMap { name -> String? in
            name.nameType == .dnsName ? String(decoding: Array(name.contents), as: UTF8.self) : nil
        }
        return names.isEmpty ? "no DNS names" : "for \(names.joined(separator: ", "))"
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
