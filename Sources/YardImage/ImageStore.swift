import Foundation
import YardCore
import YardRuntime

/// The machine's OCI images: one containers/storage store (overlay) under the data
/// directory, shared by `buildah`, `podman` and `skopeo`, which all read the store's
/// location, registries and defaults from the configuration files this type writes
/// (`CONTAINERS_STORAGE_CONF`, `CONTAINERS_REGISTRIES_CONF`, `CONTAINERS_CONF`) and
/// never from the host's `/etc/containers`.
///
/// Extensions add the parts: building Dockerfiles, pulling and importing, and per-replica
/// instance layers.
public struct ImageStore: Sendable {
    public struct Configuration: Sendable {
        /// `<data>/images`: `storage/` (layers and images), `run/` (the store's run state),
        /// and the tools' configuration files.
        public var directory: URL
        /// A registry mirror for `docker.io` names (`yard serve --registry-mirror URL`),
        /// for sites with no way to Docker Hub.
        public var registryMirror: URL?
        /// Registries spoken to over plain HTTP (a `docker-registry` on loopback); every
        /// other registry needs HTTPS.
        public var insecureRegistries: [String]

        public init(directory: URL, registryMirror: URL? = nil, insecureRegistries: [String] = []) {
            self.directory = directory
            self.registryMirror = registryMirror
            self.insecureRegistries = insecureRegistries
        }
    }

    /// The image tools this store drives.
    public enum Tool: String, Sendable, CaseIterable {
        case buildah, podman, skopeo
    }

    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var storageDirectory: URL { configuration.directory.appendingPathComponent("storage") }
    public var runDirectory: URL { configuration.directory.appendingPathComponent("run") }
    private var storageConf: URL { configuration.directory.appendingPathComponent("storage.conf") }
    private var registriesConf: URL { configuration.directory.appendingPathComponent("registries.conf") }
    private var containersConf: URL { configuration.directory.appendingPathComponent("containers.conf") }

    /// Creates the store's folders and writes the tools' configuration (again at every
    /// start, so a changed mirror takes effect). Fails naming the package when a tool is
    /// missing.
    public func prepare() throws(YardError) {
        for tool in Tool.allCases where SystemTool.locate(tool.rawValue) == nil {
            throw SystemTool.missing(tool.rawValue, neededFor: "running images")
        }
        do {
            let manager = FileManager.default
            try manager.createDirectory(at: storageDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.createDirectory(at: runDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Data(renderStorageConf().utf8).write(to: storageConf, options: .atomic)
            try Data(renderRegistriesConf().utf8).write(to: registriesConf, options: .atomic)
            try Data(Self.renderContainersConf().utf8).write(to: containersConf, options: .atomic)
        } catch {
            throw YardError(.internal, "could not prepare the image store in \(configuration.directory.path)", cause: error)
        }
    }

    /// The environment every image tool runs with: the store's configuration files, and no
    /// user configuration or credentials of the host leaking in.
    public var toolEnvironment: [String: String] {
        [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": configuration.directory.path,
            "CONTAINERS_STORAGE_CONF": storageConf.path,
            "CONTAINERS_REGISTRIES_CONF": registriesConf.path,
            "CONTAINERS_CONF": containersConf.path,
            "TMPDIR": runDirectory.path,
            "BUILDAH_ISOLATION": "oci",
        ]
    }

    /// A command of one of the image tools against this store.
    public func command(_ tool: Tool, _ arguments: [String], input: String? = nil) throws(YardError) -> SystemCommand {
        guard let executable = SystemTool.locate(tool.rawValue) else {
            throw SystemTool.missing(tool.rawValue, neededFor: "running images")
        }
        return SystemCommand(executable, arguments, input: input, environment: toolEnvironment)
    }

    /// Runs one of the image tools to completion; a failure names the command.
    @discardableResult
    public func run(_ tool: Tool, _ arguments: [String], input: String? = nil) async throws -> CommandResult {
        try await command(tool, arguments, input: input).run()
    }

    /// The image stored under `name` (a full reference or an image id), with its config;
    /// nil when the store has no such image.
    public func inspect(_ name: String) async throws -> ImageArtifact? {
        let result = try await command(.podman, ["image", "inspect", "--", name]).result()
        guard result.succeeded else {
            if result.standardError.contains("no such image") || result.standardError.contains("image not known") { return nil }
            throw try command(.podman, ["image", "inspect", "--", name]).failure(result)
        }
        return try Self.decodeInspect(result.standardOutput, name: name)
    }

    /// Removes an image by id or name; an image that is already gone is not an error.
    public func remove(_ name: String) async throws {
        let result = try await command(.podman, ["image", "rm", "--force", "--", name]).result()
        if !result.succeeded, !result.standardError.contains("image not known"), !result.standardError.contains("no such image") {
            throw try command(.podman, ["image", "rm", "--", name]).failure(result)
        }
    }

    /// Imports a root filesystem tarball as an image named `reference`, with the config a
    /// Debian image has (PATH, `bash` as its command); returns it.
    public func importRootFilesystem(tarball: URL, as reference: ImageReference) async throws -> ImageArtifact {
        try await run(.podman, [
            "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "CMD [\"bash\"]", "--", tarball.path, reference.description,
        ])
        guard let image = try await inspect(reference.description) else {
            throw YardError(.internal, "the image \(reference) was imported but the store does not list it")
        }
        recordImported(image)
        return image
    }

    /// Unmounts what the store left mounted under its folder (containers/storage keeps its
    /// `overlay` folder bind-mounted on itself, and mounted instance layers), deepest first,
    /// so the data directory can be removed and no mount outlives the server.
    public func unmountAll() async {
        guard let mounts = ProcFile.read("/proc/self/mounts"),
            let umount = SystemTool.locate("umount")
        else { return }
        let prefix = configuration.directory.standardizedFileURL.path + "/"
        let targets = mounts.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { return nil }
            // /proc/mounts escapes spaces and tabs as octal.
            let target = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            return target.hasPrefix(prefix) ? target : nil
        }
        for target in Set(targets).sorted(by: { $0.count > $1.count }) {
            _ = try? await SystemCommand(umount, ["--lazy", "--", target]).result()
        }
    }

    // MARK: - Configuration files

    func renderStorageConf() -> String {
        """
        # Written by yard serve at every start: the image store of this data directory.
        [storage]
        driver = "overlay"
        graphroot = "\(storageDirectory.path)"
        runroot = "\(runDirectory.path)"

        """
    }

    func renderRegistriesConf() -> String {
        var text = """
            # Written by yard serve at every start. Short names (redis:7) mean Docker Hub, as on
            # Railway; no other registry is searched.
            unqualified-search-registries = ["docker.io"]
            short-name-mode = "permissive"

            """
        if let mirror = configuration.registryMirror {
            let location = mirror.host.map { host in mirror.port.map { "\(host):\($0)" } ?? host } ?? mirror.absoluteString
            let insecure = mirror.scheme == "http"
            text += """

                [[registry]]
                prefix = "docker.io"
                location = "registry-1.docker.io"

                [[registry.mirror]]
                location = "\(location)"
                insecure = \(insecure)

                """
        }
        for registry in configuration.insecureRegistries {
            text += """

                [[registry]]
                location = "\(registry)"
                insecure = true

                """
        }
        return text
    }

    static func renderContainersConf() -> String {
        // The server has no CAP_SYS_RESOURCE on some machines: podman's default limits
        // (1048576 open files) cannot be set there, these can.
        """
        # Written by yard serve at every start.
        [containers]
        default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

        [engine]
        runtime = "runc"

        """
    }

    // MARK: - Inspect output

    private struct InspectOutput: Decodable {
        struct Config: Decodable {
            var User: String?
            var Env: [String]?
            var Entrypoint: [String]?
            var Cmd: [String]?
            var WorkingDir: String?
            var ExposedPorts: [String: EmptyObject]?
            var Volumes: [String: EmptyObject]?
        }
        struct EmptyObject: Decodable {}
        var Id: String
        var Digest: String?
        var Config: Config?
    }

    static func decodeInspect(_ json: String, name: String) throws(YardError) -> ImageArtifact {
        let decoded: InspectOutput
        do {
            // `podman image inspect` prints an array with one entry per name asked for.
            guard let first = try JSONDecoder().decode([InspectOutput].self, from: Data(json.utf8)).first else {
                throw YardError(.internal, "podman image inspect printed no image")
            }
            decoded = first
        } catch {
            throw YardError(.internal, "could not read the config of image \(name)", cause: error)
        }
        let config = decoded.Config
        let id = decoded.Id.hasPrefix("sha256:") ? decoded.Id : "sha256:\(decoded.Id)"
        return ImageArtifact(
            id: id, name: name, digest: decoded.Digest.flatMap { $0.isEmpty ? nil : $0 },
            config: ImageConfig(
                user: config?.User ?? "", environment: config?.Env ?? [], entrypoint: config?.Entrypoint ?? [],
                command: config?.Cmd ?? [], workingDirectory: config?.WorkingDir ?? "",
                exposedPorts: (config?.ExposedPorts?.keys).map { Array($0).sorted() } ?? [],
                volumes: (config?.Volumes?.keys).map { Array($0).sorted() } ?? []))
    }
}

extension ImageStore {
    private var importedList: URL { configuration.directory.appendingPathComponent("imported.txt") }

    /// Writes down that the operator imported `image` (`yard image import`): only such
    /// images stand in for a pull that cannot reach its registry. An image another service
    /// pulled with its own registry login must never reach a service without one.
    func recordImported(_ image: ImageArtifact) {
        let line = "\(image.name) \(image.id)\n"
        if let handle = try? FileHandle(forWritingTo: importedList) {
            defer { try? handle.close() }
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: Data(line.utf8))
        } else {
            try? Data(line.utf8).write(to: importedList, options: .atomic)
        }
    }

    /// Whether `image` (its name and id as stored now) is one the operator imported.
    public func wasImported(_ image: ImageArtifact) -> Bool {
        guard let text = try? String(contentsOf: importedList, encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { $0 == "\(image.name) \(image.id)" }
    }
}
