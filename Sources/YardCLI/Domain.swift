import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Domain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "List the service's domains, add a custom one (with its own HTTPS certificate or one from the local authority), or show the local authority.",
        subcommands: [List.self, Add.self, Remove.self, Authority.self],
        defaultSubcommand: List.self
    )

    /// `yard domain [HOST] [--port N]`: lists, or adds HOST with a local-authority certificate.
    /// `yard domain --tcp PORT [SERVICE]`: a TCP proxy to the service's PORT.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the service's domains and TCP proxies, add a custom domain, or add a TCP proxy (--tcp PORT [SERVICE]).")

        @OptionGroup var options: ClientOptions

        @Argument(help: "A hostname to route to this service; with --tcp, the service (default: --service, then this folder's link).")
        var hostname: String?

        @Option(help: "Expose this port of the service on a host port of 127.0.0.1 (a TCP proxy, e.g. a database's 5432).")
        var tcp: Int?

        @Option(help: "The port of each replica the domain goes to (default: the replica's PORT).")
        var port: Int?

        @Option(help: "Route only requests whose path starts with this prefix (e.g. /api); the longest prefix wins.")
        var path: String?

        func validate() throws {
            try Domain.validate(port: port)
            if let tcp {
                try Domain.validate(port: tcp, flag: "--tcp")
                if port != nil || path != nil {
                    throw ValidationError("--tcp takes no --port or --path: yard domain --tcp PORT [SERVICE]")
                }
                return
            }
            if (port != nil || path != nil) && hostname == nil {
                throw ValidationError("--port and --path need a hostname: yard domain add HOST [--port N] [--path /prefix]")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let client = try options.client()
                var scope = try options.serviceScope()
                if let tcp {
                    if let hostname { scope.service = hostname }
                    let proxies = try await client.addTCPProxy(scope, targetPort: tcp)
                    Domain.print(proxies, service: scope.service, json: options.json)
                    return
                }
                let domains =
                    if let hostname {
                        try await client.addDomain(scope, hostname: hostname, targetPort: port, path: path)
                    } else {
                        try await client.domains(scope)
                    }
                Domain.print(domains, json: options.json)
                if hostname == nil, !options.json {
                    let proxies = try await client.tcpProxies(scope)
                    if !proxies.isEmpty { Domain.print(proxies, service: scope.service, json: false) }
                }
            }
        }
    }

    /// `yard domain add HOST [--cert FILE --key FILE] [--port N]`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Route a custom domain to the service; --cert and --key give its HTTPS certificate (else the local authority issues one)."
        )

        @OptionGroup var options: ClientOptions

        @Argument(help: "The hostname to route to this service.")
        var hostname: String

        @Option(help: "The port of each replica the domain goes to (default: the replica's PORT; sandbox runtime only).")
        var port: Int?

        @Option(help: "Route only requests whose path starts with this prefix (e.g. /api); the longest prefix wins.")
        var path: String?

        @Option(
            help:
                "PEM file with the certificate chain for HTTPS, leaf first; needs --key. Replaces the domain's certificate without a restart."
        )
        var cert: String?

        @Option(help: "PEM file with the certificate's private key (not encrypted); needs --cert.")
        var key: String?

        func validate() throws {
            try Domain.validate(port: port)
            if (cert == nil) != (key == nil) {
                throw ValidationError("--cert and --key go together: give both, or neither for a certificate from the local authority")
            }
        }

        func run() async throws {
            try await reportingErrors {
                var certificatePEM: String?
                var keyPEM: String?
                if let cert, let key {
                    certificatePEM = try Self.readPEM(
                        cert, flag: "--cert", marker: "-----BEGIN CERTIFICATE-----", what: "a PEM certificate")
                    keyPEM = try Self.readPEM(key, flag: "--key", marker: "PRIVATE KEY-----", what: "a PEM private key")
                }
                let client = try options.client()
                let scope = try options.serviceScope()
                let domains: [DomainView]
                do {
                    domains = try await client.addDomain(
                        scope, hostname: hostname, targetPort: port, path: path, certificate: certificatePEM, privateKey: keyPEM
                    )
                } catch let error as YardError {
                    // The server names the part; say which file it was.
                    var message = error.message
                    if let cert, message.hasPrefix("certificate: ") {
                        message = "--cert \(cert): " + message.dropFirst("certificate: ".count)
                    } else if let key, message.hasPrefix("private key: ") {
                        message = "--key \(key): " + message.dropFirst("private key: ".count)
                    }
                    throw YardError(error.code, message)
                }
                Domain.print(domains, json: options.json)
            }
        }

        static func readPEM(_ path: String, flag: String, marker: String, what: String) throws -> String {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw YardError(.invalidInput, "\(flag) \(path): cannot be read (\(error.localizedDescription))")
            }
            guard let text = String(data: data, encoding: .utf8), text.contains(marker) else {
                throw YardError(.invalidInput, "\(flag) \(path): not \(what) (no \(marker) line)")
            }
            return text
        }
    }

    /// `yard domain remove HOST [--path /prefix]`, or `yard domain remove --tcp [SERVICE] [--port N]`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop routing a hostname (or one path prefix of it) to this service, or close its TCP proxy (--tcp).")

        @OptionGroup var options: ClientOptions

        @Argument(help: "The hostname to remove; with --tcp, the service (default: --service, then this folder's link).")
        var hostname: String?

        @Option(help: "The path prefix of the domain to remove (default: the whole host).")
        var path: String?

        @Flag(help: "Close the service's TCP proxy (and the connections open through it) instead.")
        var tcp = false

        @Option(help: "With --tcp: the service port whose proxy to close (needed when it has several).")
        var port: Int?

        func validate() throws {
            if tcp {
                try Domain.validate(port: port)
                if path != nil { throw ValidationError("--tcp takes no --path: yard domain remove --tcp [SERVICE] [--port N]") }
            } else {
                if hostname == nil { throw ValidationError("give the hostname to remove, or --tcp for the TCP proxy") }
                if port != nil { throw ValidationError("--port goes with --tcp: yard domain remove --tcp [SERVICE] --port N") }
            }
        }

        func run() async throws {
            try await reportingErrors {
                var scope = try options.serviceScope()
                if tcp {
                    if let hostname { scope.service = hostname }
                    let proxies = try await options.client().removeTCPProxy(scope, targetPort: port)
                    if !options.json { Swift.print("TCP proxy of \(scope.service) closed.") }
                    Domain.print(proxies, service: scope.service, json: options.json, quietWhenEmpty: !options.json)
                    return
                }
                let domains = try await options.client().removeDomain(scope, hostname: hostname ?? "", path: path)
                Domain.print(domains, json: options.json)
            }
        }
    }

    static func validate(port: Int?, flag: String = "--port") throws {
        if let port, !(1...65535).contains(port) {
            throw ValidationError("\(flag) \(port) is not a TCP port (1-65535)")
        }
    }

    static func print(_ proxies: [TCPProxyView], service: String, json: Bool, quietWhenEmpty: Bool = false) {
        if json {
            try? Output.json(proxies)
            return
        }
        if proxies.isEmpty {
            if !quietWhenEmpty { Swift.print("\(service) has no TCP proxy.") }
            return
        }
        for proxy in proxies {
            Swift.print("tcp://\(proxy.host):\(proxy.hostPort)  → port \(proxy.targetPort)  (TCP proxy)")
        }
    }

    /// `yard domain ca`: where the local authority's certificate is, to trust it.
    struct Authority: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ca",
            abstract: "Show where the local certificate authority's certificate is, to trust it in browsers and clients."
        )

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await reportingErrors {
                let info = try await options.client().info()
                if options.json {
                    try Output.json(["authorityCertificate": info.authorityCertificate, "httpsURL": info.httpsURL])
                    return
                }
                guard let path = info.authorityCertificate else {
                    Swift.print("HTTPS is off on this server (yard serve --no-https): there is no local authority.")
                    return
                }
                Swift.print(
                    """
                    Local certificate authority: \(path)
                    It issues the HTTPS certificate of every domain that has none of its own.
                    Trust it, e.g. curl --cacert \(path) https://HOST:PORT/, or add it to the system's store
                    (Debian: cp it to /usr/local/share/ca-certificates/switchyard.crt and run update-ca-certificates).
                    """)
            }
        }
    }

    static func print(_ domains: [DomainView], json: Bool) {
        if json {
            try? Output.json(domains)
            return
        }
        if domains.isEmpty { Swift.print("No domains yet: the first `yard up` generates one.") }
        for domain in domains {
            let port = domain.targetPort.map { "  → port \($0)" } ?? ""
            Swift.print("\(domain.url)\(domain.generated ? "  (generated)" : "")\(port)")
            if let https = domain.httpsURL {
                let source = domain.certificate == "files" ? "certificate from files" : "certificate from the local authority"
                Swift.print("\(https)  (\(source))")
            }
        }
    }
}
