import Foundation
import YardCore
import YardRuntime

/// A registry login for a private image. The password reaches the image tools only
/// through a 0600 auth file that is removed after the pull; it is never printed.
public struct RegistryCredentials: Sendable, Equatable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "RegistryCredentials(username: \(username), password: <redacted>)" }
}

/// An image in the store, as `yard image ls` lists it.
public struct StoredImage: Sendable, Equatable, Codable {
    public var id: String
    public var names: [String]
    public var sizeBytes: Int64
}

extension ImageStore {
    /// Pulls `reference` from its registry (or the mirror, for Docker Hub names) into the
    /// store and returns it with its registry digest. `progress` gets the lines a deploy log
    /// shows (pulling, digest, size). Plain HTTP is used only for loopback registries and the
    /// ones the operator named; errors name the fix and never a credential.
    public func pull(
        _ reference: ImageReference, credentials: RegistryCredentials? = nil,
        progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> ImageArtifact {
        progress("pulling \(reference.familiarName) from \(pullSource(of: reference))")
        let started = ContinuousClock.now
        var arguments = ["pull", "--quiet"]
        if Self.isLoopback(registry: reference.registry) { arguments.append("--tls-verify=false") }
        let result = try await withAuthFile(credentials, registry: reference.registry) { authFile in
            if let authFile { arguments += ["--authfile", authFile.path] }
            return try await command(.podman, arguments + ["--", reference.description]).result()
        }
        guard result.succeeded else {
            throw pullError(reference, credentials: credentials, standardError: result.standardError)
        }
        guard let image = try await inspect(reference.description) else {
            throw YardError(.internal, "the image \(reference.familiarName) was pulled but the store does not list it")
        }
        let size = try await sizeBytes(of: image.id)
        progress("digest \(image.digest ?? "unknown"), image \(image.id.prefix(19))")
        progress("size \(Self.formatSize(size)), pulled in \(Self.formatSeconds(ContinuousClock.now - started))")
        return image
    }

    /// Pushes the stored image `name` to `reference` (tests fill a local registry with it).
    public func push(_ name: String, to reference: ImageReference, credentials: RegistryCredentials? = nil) async throws {
        var arguments = ["push", "--quiet"]
        if Self.isLoopback(registry: reference.registry) { arguments.append("--tls-verify=false") }
        let result = try await withAuthFile(credentials, registry: reference.registry) { authFile in
            if let authFile { arguments += ["--authfile", authFile.path] }
            return try await command(.podman, arguments + ["--", name, reference.description]).result()
        }
        guard result.succeeded else {
            throw YardError(.unavailable, "could not push \(name) to \(reference.familiarName): \(Self.lastLine(result.standardError))")
        }
    }

    /// Imports an image archive (`docker save` / `podman save`: docker-archive or
    /// oci-archive, told apart by their contents) as `reference`.
    public func importArchive(_ archive: URL, as reference: ImageReference) async throws -> ImageArtifact {
        guard FileManager.default.isReadableFile(atPath: archive.path) else {
            throw YardError(.invalidInput, "\(archive.path) is not a readable file: give the tarball `docker save` or `podman save` wrote")
        }
        let transport = try await archiveTransport(archive)
        let result = try await command(.skopeo, [
            "copy", "--quiet", "\(transport):\(archive.path)", "containers-storage:\(reference.description)",
        ]).result()
        guard result.succeeded else {
            throw YardError(.invalidInput, "could not import \(archive.lastPathComponent) as \(reference.familiarName): "
                + "\(Self.lastLine(result.standardError)) (an archive with several images is not supported: save one image)")
        }
        guard let image = try await inspect(reference.description) else {
            throw YardError(.internal, "the image \(reference.familiarName) was imported but the store does not list it")
        }
        recordImported(image)
        return image
    }

    /// Every image in the store, with its names and size.
    public func images() async throws -> [StoredImage] {
        struct Entry: Decodable {
            var Id: String
            var Names: [String]?
            var Size: Int64?
        }
        let output = try await run(.podman, ["images", "--format", "json"]).standardOutput
        let entries: [Entry]
        do {
            entries = try JSONDecoder().decode([Entry].self, from: Data(output.utf8))
        } catch {
            throw YardError(.internal, "could not read the list of images", cause: error)
        }
        // podman lists an image once per name: one entry per image id, in podman's order.
        var images: [StoredImage] = []
        for entry in entries {
            let id = entry.Id.hasPrefix("sha256:") ? entry.Id : "sha256:\(entry.Id)"
            if let index = images.firstIndex(where: { $0.id == id }) {
                images[index].names += (entry.Names ?? []).filter { !images[index].names.contains($0) }
            } else {
                images.append(StoredImage(id: id, names: entry.Names ?? [], sizeBytes: entry.Size ?? 0))
            }
        }
        return images
    }

    // MARK: - Pull details

    /// Where a pull of `reference` goes: the mirror for Docker Hub names when one is set.
    func pullSource(of reference: ImageReference) -> String {
        if reference.registry == "docker.io", let mirror = configuration.registryMirror {
            return "\(reference.registry) (mirror \(mirror.absoluteString))"
        }
        return reference.registry
    }

    /// Turns podman's error output into a message that says what to do. Only podman's last
    /// line is quoted (it names the image, never the auth file's contents).
    /// Whether `text` has `status` as a number of its own (not part of a port, size or digest).
    static func containsStatus(_ status: Int, in text: String) -> Bool {
        let digits = String(status)
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: digits, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            let joined: (Character?) -> Bool = { $0.map { $0.isNumber || $0 == ":" || $0 == "." } ?? false }
            if !joined(before) && !(after?.isNumber ?? false) { return true }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }

    func pullError(_ reference: ImageReference, credentials: RegistryCredentials?, standardError: String) -> YardError {
        let detail = Self.lastLine(standardError)
        let image = reference.familiarName
        let registry = pullSource(of: reference)
        // Names are taken out before looking for words and status codes: a registry on port
        // 40312 must not read as a 403, nor an image called "denied" as a refusal.
        var text = standardError.lowercased()
        for name in [reference.description, registry, reference.registry] where !name.isEmpty {
            text = text.replacingOccurrences(of: name.lowercased(), with: "<name>")
        }
        if text.contains("unauthorized") || text.contains("authentication required") || text.contains("denied")
            || Self.containsStatus(401, in: text) || Self.containsStatus(403, in: text)
        {
            let what = credentials == nil ? "asks for credentials and none are set" : "refused the credentials"
            return YardError(.unauthorized, "the registry \(registry) \(what) for \(image): set them with "
                + "`yard service --registry-username USER --registry-password-stdin`, then `yard redeploy` (\(detail))")
        }
        if text.contains("manifest unknown") || text.contains("name unknown") || text.contains("not found")
            || text.contains("no such image")
        {
            return YardError(.notFound, "image \(image) was not found in \(registry) (\(detail)); check the name and tag")
        }
        if text.contains("connection refused") || text.contains("no such host") || text.contains("dial tcp")
            || text.contains("i/o timeout") || text.contains("network is unreachable") || text.contains("tls handshake")
            || text.contains("server gave http response to https client") || text.contains("pinging container registry")
        {
            return YardError(.unavailable, "the registry \(registry) could not be reached to pull \(image) (\(detail)); "
                + "on a machine without access start `yard serve --registry-mirror URL`, or bring the image with "
                + "`yard image import \(image) FILE.tar`")
        }
        return YardError(.unavailable, "could not pull \(image) from \(registry): \(detail)")
    }

    /// Runs `body` with a 0600 auth file holding `credentials` (nil when there are none),
    /// in the store's private run folder; the file is removed afterwards, also on failure.
    func withAuthFile<T>(
        _ credentials: RegistryCredentials?, registry: String, _ body: (URL?) async throws -> T
    ) async throws -> T {
        guard let credentials else { return try await body(nil) }
        let file = runDirectory.appendingPathComponent("auth-\(UUID().uuidString).json")
        let token = Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
        let json = try JSONSerialization.data(withJSONObject: ["auths": [registry: ["auth": token]]])
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw YardError(.internal, "could not create the registry auth file in \(runDirectory.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        try handle.write(contentsOf: json)
        try handle.close()
        return try await body(file)
    }

    private func sizeBytes(of id: String) async throws -> Int64 {
        let output = try await run(.podman, ["image", "inspect", "--format", "{{.Size}}", "--", id]).standardOutput
        return Int64(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// `oci-archive` when the tarball has an `oci-layout` file, else `docker-archive`.
    private func archiveTransport(_ archive: URL) async throws -> String {
        guard let tar = SystemTool.locate("tar") else { throw SystemTool.missing("tar", neededFor: "importing images") }
        let listing = try await SystemCommand(tar, ["-tf", archive.path]).result()
        guard listing.succeeded else {
            throw YardError(.invalidInput, "\(archive.lastPathComponent) is not a tar archive: give the tarball `docker save` or `podman save` wrote")
        }
        let entries = Set(listing.standardOutput.split(separator: "\n").map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : String($0) })
        if entries.contains("oci-layout") { return "oci-archive" }
        if entries.contains("manifest.json") { return "docker-archive" }
        throw YardError(.invalidInput, "\(archive.lastPathComponent) is neither a docker-archive (manifest.json) nor an oci-archive "
            + "(oci-layout): write it with `docker save IMAGE -o FILE.tar` or `podman save IMAGE -o FILE.tar`")
    }

    /// Loopback registries (a `docker-registry` on this machine) are spoken to over HTTP.
    static func isLoopback(registry: String) -> Bool {
        let host = registry.hasPrefix("[") ? String(registry.dropFirst().prefix { $0 != "]" }) : String(registry.prefix { $0 != ":" })
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let isIPv4Loopback = octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
        return host == "localhost" || host == "::1" || isIPv4Loopback
    }

    static func lastLine(_ text: String) -> String {
        let line = text.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? "no error output"
        return line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : String(line)
    }

    public static func formatSize(_ bytes: Int64) -> String {
        bytes >= 1 << 20 ? String(format: "%.1f MB", Double(bytes) / 1_048_576) : "\(bytes / 1024) kB"
    }

    private static func formatSeconds(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
