/// An image name as Docker writes it (`redis:7`, `ghcr.io/org/app:tag`,
/// `localhost:5000/app@sha256:…`), normalized the way Docker does: a name without a
/// registry is on `docker.io`, a single-segment Docker Hub name is in `library/`, and a
/// name without a tag or digest means `latest`.
public struct ImageReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost`.
    public var registry: String
    /// `library/redis`, `org/app`.
    public var repository: String
    /// `7`, `latest`; nil when the reference is by digest only.
    public var tag: String?
    /// `sha256:<64 hex>`, when pinned.
    public var digest: String?

    public init(registry: String, repository: String, tag: String?, digest: String?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalizes `text`; the error names what is wrong with it.
    public init(parsing text: String) throws(YardError) {
        func invalid(_ why: String) -> YardError {
            YardError(.invalidInput, "'\(text)' is not an image reference: \(why) (write it like redis:7 or ghcr.io/org/app:tag)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw invalid("it is empty") }
        guard trimmed.count <= 255 else { throw invalid("it is longer than 255 characters") }
        guard !trimmed.hasPrefix("-") else { throw invalid("it starts with '-'") }

        var rest = Substring(trimmed)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let value = String(rest[rest.index(after: at)...])
            let parts = value.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0] == "sha256", parts[1].count == 64,
                parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else { throw invalid("the digest must be sha256: and 64 lower-case hex digits") }
            digest = value
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            let value = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(value) else {
                throw invalid("the tag '\(value)' must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
            }
            tag = value
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !components.isEmpty, !components.contains(where: \.isEmpty) else { throw invalid("a name part is empty") }
        var registry = "docker.io"
        if components.count > 1, let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost"
        {
            registry = first
            components.removeFirst()
            guard Self.isValidRegistry(registry) else { throw invalid("'\(registry)' is not a registry host[:port]") }
        }
        if registry == "index.docker.io" { registry = "docker.io" }
        for component in components where !Self.isValidPathComponent(component) {
            throw invalid("'\(component)' must be lower-case letters and digits, separated by '.', '_', '__' or '-'")
        }
        if registry == "docker.io", components.count == 1 { components.insert("library", at: 0) }
        if tag == nil, digest == nil { tag = "latest" }
        self.init(registry: registry, repository: components.joined(separator: "/"), tag: tag, digest: digest)
    }

    /// The fully qualified name (`docker.io/library/redis:7`), what the image tools are given.
    public var description: String {
        var text = "\(registry)/\(repository)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    /// The name without tag or digest (`docker.io/library/redis`).
    public var name: String { "\(registry)/\(repository)" }

    /// The repository's name on its registry, for messages: `redis:7`, `ghcr.io/org/app:tag`.
    public var familiarName: String {
        var text = registry == "docker.io" && repository.hasPrefix("library/") ? String(repository.dropFirst(8)) : name
        if registry == "docker.io", !repository.hasPrefix("library/") { text = repository }
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    private static func isValidTag(_ tag: String) -> Bool {
        guard let first = tag.first, tag.count <= 128, first != ".", first != "-" else { return false }
        return tag.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }

    private static func isValidPathComponent(_ component: String) -> Bool {
        guard let first = component.first, let last = component.last,
            first.isASCII, first.isLowercase || first.isNumber, last.isASCII, last.isLowercase || last.isNumber
        else { return false }
        return component.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
            && !component.contains("..") && !component.contains("___")
    }

    private static func isValidRegistry(_ registry: String) -> Bool {
        let parts = registry.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else { return false }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else { return false }
        }
        return host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
    }
}

/// What an image says about how it runs (its OCI config): honoured by the runtime, with
/// the service's settings on top (`startCommand` replaces `cmd`, as on Railway).
public struct ImageConfig: Codable, Sendable, Equatable {
    /// `name`, `uid`, `uid:gid` or `name:group`; empty means root.
    public var user: String
    /// `KEY=value` entries, in the image's order.
    public var environment: [String]
    public var entrypoint: [String]
    public var command: [String]
    /// Empty means `/`.
    public var workingDirectory: String
    /// `8080/tcp`, `53/udp`.
    public var exposedPorts: [String]
    /// Paths the image declares as `VOLUME`.
    public var volumes: [String]

    public init(
        user: String = "", environment: [String] = [], entrypoint: [String] = [], command: [String] = [],
        workingDirectory: String = "", exposedPorts: [String] = [], volumes: [String] = []
    ) {
        self.user = user
        self.environment = environment
        self.entrypoint = entrypoint
        self.command = command
        self.workingDirectory = workingDirectory
        self.exposedPorts = exposedPorts
        self.volumes = volumes
    }

    /// The lowest exposed TCP port: the default target port of the service's domain.
    public var defaultPort: Int? {
        exposedPorts.compactMap { entry -> Int? in
            let parts = entry.split(separator: "/")
            guard parts.count <= 2, parts.count == 1 || parts[1] == "tcp" else { return nil }
            return Int(parts[0])
        }.min()
    }

    /// Whether the image's process starts as root (an empty user, `root`, `0`, `0:…`).
    public var runsAsRoot: Bool {
        let name = user.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return name.isEmpty || name == "root" || name == "0"
    }
}

/// An image that is a deployment's artifact: in the machine's image store under `name`,
/// identified by its content (`id`, the config digest), so a rollback runs exactly it.
public struct ImageArtifact: Codable, Sendable, Equatable {
    /// `sha256:<hex>`: the image id (the digest of its config), stable across names.
    public var id: String
    /// The name it is stored under (`localhost/yard/<service>:<deployment>`, or the pulled
    /// reference such as `docker.io/library/redis:7`).
    public var name: String
    /// The registry manifest digest it was pulled by, when it came from a registry.
    public var digest: String?
    public var config: ImageConfig

    public init(id: String, name: String, digest: String? = nil, config: ImageConfig) {
        self.id = id
        self.name = name
        self.digest = digest
        self.config = config
    }
}
