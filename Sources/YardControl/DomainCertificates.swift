import Foundation
import YardCore
import YardRouter
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTPS certificates of domains, under `<data>/tls` (0700):
/// - `files/<host>.pem` and `.key`: what the user gave with `yard domain add --cert --key`;
/// - `local/<host>.pem` and `.key`: issued on first need by Switchyard's own authority,
///   `ca.pem` and `ca.key`, created when `yard serve` starts with HTTPS (users trust `ca.pem`
///   to avoid warnings).
///
/// Private keys are written 0600 and never read back into anything but the TLS library.
public actor DomainCertificates: CertificateSource {
    public nonisolated let directory: URL
    /// The `openssl` command that creates the authority and issues certificates.
    private let openssl: String
    /// Issuances under way, so concurrent handshakes for one host share one.
    private var issuing: [String: Task<TLSCertificate, any Error>] = [:]

    /// Local certificates are issued for this long (browsers accept at most 398 days)...
    static let localValidityDays = 397
    /// ...and issued again when less than this is left.
    static let renewalMargin: TimeInterval = 30 * 24 * 3600

    /// The only names the local authority signs: this domain and the names under it (the
    /// base domain of generated domains). A new authority carries it as an X.509 name
    /// constraint too, so even its key cannot vouch for anything else; nil signs any name.
    public nonisolated let localAuthorityDomain: String?

    public init(directory: URL, localAuthorityDomain: String? = nil, openssl: String = "/usr/bin/openssl") {
        self.directory = directory
        self.localAuthorityDomain = localAuthorityDomain.map(RouteTable.normalizedHost)
        self.openssl = openssl
    }

    /// Whether `host` is `domain` or a name under it (label boundary, case-insensitive).
    public static func isCovered(host: String, by domain: String) -> Bool {
        let host = RouteTable.normalizedHost(host)
        let domain = RouteTable.normalizedHost(domain)
        guard !host.isEmpty, !domain.isEmpty else { return false }
        return host == domain || host.hasSuffix("." + domain)
    }

    /// The local authority's certificate, for users to trust (exists once one was needed).
    public nonisolated var authorityCertificateFile: URL { self.directory.appendingPathComponent("ca.pem") }

    /// Where `host`'s certificate comes from: files the user gave, else the local authority.
    public nonisolated func source(forHost host: String) -> TLSCertificate.Source {
        guard let paths = try? self.paths(host, .files) else { return .localAuthority }
        return FileManager.default.fileExists(atPath: paths.certificate.path) ? .files : .localAuthority
    }

    /// The certificate for a routed `host`: the user's files, else a local one (issued now if
    /// missing or close to expiry).
    public func certificate(forHost host: String) async throws -> TLSCertificate {
        let files = try self.paths(host, .files)
        if FileManager.default.fileExists(atPath: files.certificate.path) {
            return try TLSCertificate(certificateFile: files.certificate, privateKeyFile: files.key, source: .files)
        }
        if let domain = self.localAuthorityDomain, !Self.isCovered(host: host, by: domain) {
            throw YardError(
                .invalidInput,
                "the local certificate authority signs only names under \(domain), not \(RouteTable.normalizedHost(host)); "
                    + "give the domain its own certificate: yard domain add \(RouteTable.normalizedHost(host)) --cert FILE --key FILE")
        }
        let local = try self.paths(host, .localAuthority)
        if let existing = try? TLSCertificate(certificateFile: local.certificate, privateKeyFile: local.key, source: .localAuthority),
            !existing.isDueForRenewal(margin: Self.renewalMargin)
        {
            return existing
        }
        if let running = self.issuing[host] { return try await running.value }
        let task = Task { try await self.issue(host: host, into: local) }
        self.issuing[host] = task
        defer { self.issuing[host] = nil }
        return try await task.value
    }

    /// Stores the user's certificate and key for `host` (already checked by the caller),
    /// replacing any before. The key file is 0600 from its first byte.
    public func install(certificatePEM: [UInt8], privateKeyPEM: [UInt8], forHost host: String) throws {
        let paths = try self.paths(host, .files)
        try self.prepareDirectory(paths.certificate.deletingLastPathComponent())
        try Self.writePrivate(privateKeyPEM, to: paths.key)
        try Data(certificatePEM).write(to: paths.certificate, options: .atomic)
    }

    // MARK: The local authority

    /// Creates the local authority unless it exists, so users can trust `ca.pem` before the
    /// first HTTPS request. Throws when the `openssl` command is missing.
    public func prepareAuthority() async throws {
        try await self.ensureAuthority()
    }

    private func issue(host: String, into paths: (certificate: URL, key: URL)) async throws -> TLSCertificate {
        try await self.ensureAuthority()
        try self.prepareDirectory(paths.certificate.deletingLastPathComponent())
        let scratch = paths.certificate.deletingLastPathComponent().appendingPathComponent(".\(host).\(UUID().uuidString)")
        let scratchKey = scratch.appendingPathExtension("key")
        let scratchCertificate = scratch.appendingPathExtension("pem")
        defer {
            try? FileManager.default.removeItem(at: scratchKey)
            try? FileManager.default.removeItem(at: scratchCertificate)
        }
        try await self.runOpenSSL([
            "req", "-x509", "-config", try self.opensslConfig().path,
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", scratchKey.path, "-out", scratchCertificate.path,
            "-days", String(Self.localValidityDays), "-subj", "/CN=\(host)",
            "-CA", self.authorityCertificateFile.path, "-CAkey", self.authorityKeyFile.path,
            "-addext", "subjectAltName=DNS:\(host)",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=serverAuth",
            "-addext", "authorityKeyIdentifier=keyid",
        ])
        try Self.restrict(scratchKey)
        // The key goes in place before the certificate: a certificate file always has its key.
        try Self.move(scratchKey, over: paths.key)
        try Self.move(scratchCertificate, over: paths.certificate)
        return try TLSCertificate(certificateFile: paths.certificate, privateKeyFile: paths.key, source: .localAuthority)
    }

    private var authorityKeyFile: URL { self.directory.appendingPathComponent("ca.key") }

    /// Creates the authority (a P-256 key and a self-signed CA certificate for 10 years) once.
    private func ensureAuthority() async throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: self.authorityCertificateFile.path), manager.fileExists(atPath: self.authorityKeyFile.path) {
            return
        }
        try self.prepareDirectory(self.directory)
        let key = self.directory.appendingPathComponent(".ca.\(UUID().uuidString).key")
        let certificate = self.directory.appendingPathComponent(".ca.\(UUID().uuidString).pem")
        defer {
            try? manager.removeItem(at: key)
            try? manager.removeItem(at: certificate)
        }
        let machine = ProcessInfo.processInfo.hostName
        // Clients that check name constraints (OpenSSL, browsers) refuse anything it signs
        // outside the base domain, whoever gets hold of ca.key.
        let constraint = self.localAuthorityDomain.map { ["-addext", "nameConstraints=critical,permitted;DNS:\($0)"] } ?? []
        try await self.runOpenSSL(
            [
            "req", "-x509", "-config", try self.opensslConfig().path,
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key.path, "-out", certificate.path, "-days", "3650",
            "-subj", "/O=Switchyard/CN=Switchyard local authority (\(machine))",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
        ] + constraint)
        try Self.restrict(key)
        try Self.move(key, over: self.authorityKeyFile)
        try Self.move(certificate, over: self.authorityCertificateFile)
    }

    /// An empty configuration, so the system's `openssl.cnf` adds no extensions of its own.
    private func opensslConfig() throws -> URL {
        let file = self.directory.appendingPathComponent("openssl.cnf")
        if !FileManager.default.fileExists(atPath: file.path) {
            try self.prepareDirectory(self.directory)
            try Data("[req]\ndistinguished_name = dn\n[dn]\n".utf8).write(to: file, options: .atomic)
        }
        return file
    }

    private func runOpenSSL(_ arguments: [String]) async throws {
        guard FileManager.default.isExecutableFile(atPath: self.openssl) else {
            throw YardError(
                .unavailable,
                "HTTPS needs the openssl command for its local certificate authority, and \(self.openssl) does not exist; install it (apt-get install openssl) or turn HTTPS off with --no-https"
            )
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: self.openssl)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        // openssl's messages are a few lines; they never fill the pipe before it exits.
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard status == 0 else {
            throw YardError(
                .internal,
                "openssl \(arguments[0]) failed (exit \(status)) while issuing a local certificate: \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    // MARK: Files

    private nonisolated func paths(_ host: String, _ source: TLSCertificate.Source) throws -> (certificate: URL, key: URL) {
        let name = RouteTable.normalizedHost(host)
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, labels.allSatisfy({ !$0.isEmpty }),
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
        else {
            throw YardError(.invalidInput, "'\(host)' is not a hostname a certificate can be issued for")
        }
        let folder = self.directory.appendingPathComponent(source == .files ? "files" : "local")
        return (folder.appendingPathComponent("\(name).pem"), folder.appendingPathComponent("\(name).key"))
    }

    private nonisolated func prepareDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: self.directory.path)
    }

    private static func restrict(_ file: URL) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }

    /// Renames `source` over `destination` in one step (rename(2)), so readers see the old
    /// file or the new one, never half of one.
    private static func move(_ source: URL, over destination: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw YardError(
                .internal, "could not move \(source.lastPathComponent) to \(destination.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes a key to a fresh 0600 file next to `url`, then renames it over `url`.
    private static func writePrivate(_ bytes: [UInt8], to url: URL) throws {
        let scratch = url.deletingLastPathComponent().appendingPathComponent(".\(UUID().uuidString).key")
        guard FileManager.default.createFile(atPath: scratch.path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw YardError(.internal, "could not write a private key under \(url.deletingLastPathComponent().path)")
        }
        do {
            try Self.move(scratch, over: url)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
    }
}
