import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import YardRouter
import YardRuntime

/// A throwaway certificate authority made with the openssl command, in a temp directory.
struct TestCertificateAuthority {
    let directory: URL

    var certificateFile: URL { self.directory.appendingPathComponent("ca.pem") }
    var certificate: NIOSSLCertificate { get throws { try NIOSSLCertificate.fromPEMFile(self.certificateFile.path)[0] } }

    static func make() throws -> TestCertificateAuthority {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("[req]\ndistinguished_name = dn\n[dn]\n".utf8).write(to: directory.appendingPathComponent("openssl.cnf"))
        let authority = TestCertificateAuthority(directory: directory)
        try authority.openssl([
            "req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Test authority",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        ])
        return authority
    }

    /// Issues a certificate for `names` (DNS SANs); returns the PEM files (certificate, key).
    func issue(_ names: [String], file: String, rsa: Bool = false) throws -> (certificate: URL, key: URL) {
        let key = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        try self.openssl(
            ["req", "-x509", "-config", "openssl.cnf"] + key + [
                "-nodes",
                "-keyout", "\(file).key", "-out", "\(file).pem", "-days", "10", "-subj", "/CN=\(names[0])",
                "-CA", "ca.pem", "-CAkey", "ca.key",
                "-addext", "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ","),
            ])
        return (self.directory.appendingPathComponent("\(file).pem"), self.directory.appendingPathComponent("\(file).key"))
    }

    func loaded(_ names: [String], file: String) throws -> TLSCertificate {
        let files = try self.issue(names, file: file)
        return try TLSCertificate(certificateFile: files.certificate, privateKeyFile: files.key, source: .files)
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func openssl(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw TestClientError(description: "these tests need the openssl command: apt-get install openssl")
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = self.directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestClientError(description: "openssl \(arguments.joined(separator: " ")) failed")
        }
    }
}

/// Serves certificates from a dictionary and counts the requests it gets.
final class StaticCertificateSource: CertificateSource, @unchecked Sendable {
    private let lock = NSLock()
    private var certificates: [String: TLSCertificate]
    private var asked: [String] = []

    init(_ certificates: [String: TLSCertificate]) {
        self.certificates = certificates
    }

    var requests: [String] { self.lock.withLock { self.asked } }

    func certificate(forHost host: String) async throws -> TLSCertificate {
        try self.lock.withLock {
            self.asked.append(host)
            guard let certificate = self.certificates[host] else { throw TestClientError(description: "no certificate for \(host)") }
            return certificate
        }
    }
}

/// What one HTTPS request saw: the server's certificate and the response.
struct HTTPSExchange {
    var peerDNSNames: [String]
    var peerSerial: [UInt8]
    var response: TestResponse
}

/// Connects to 127.0.0.1:`port` over TLS with `serverName` as SNI, sends one GET and reads the
/// response. With `trusting`, the server's certificate must chain to it and cover the name.
func httpsRequest(
    port: Int, serverName: String?, host: String? = nil, uri: String = "/",
    headers: [(String, String)] = [], trusting authority: NIOSSLCertificate?
) async throws -> HTTPSExchange {
    var tls = NIOSSL.TLSConfiguration.makeClientConfiguration()
    if let authority {
        tls.trustRoots = .certificates([authority])
    } else {
        tls.certificateVerification = .none
    }
    let context = try NIOSSLContext(configuration: tls)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
    let raw = channel.channel
    return try await channel.executeThenClose { inbound, outbound in
        var requestHeaders = HTTPHeaders(headers)
        requestHeaders.add(name: "Host", value: host ?? serverName ?? "127.0.0.1")
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: requestHeaders)))
        try await outbound.write(.end(nil))
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        loop: for try await part in inbound {
            switch part {
            case .head(let value): head = value
            case .body(var buffer): body.writeBuffer(&buffer)
            case .end: break loop
            }
        }
        guard let head else { throw TestClientError(description: "the connection closed before a response") }
        guard let peer = try await raw.nioSSL_peerCertificate().get() else {
            throw TestClientError(description: "no peer certificate")
        }
        let names = peer._subjectAlternativeNames().compactMap { name -> String? in
            name.nameType == .dnsName ? String(decoding: Array(name.contents), as: UTF8.self) : nil
        }
        return HTTPSExchange(peerDNSNames: names, peerSerial: peer.serialNumber, response: TestResponse(head: head, body: body))
    }
}
