import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import YardCore
import YardRuntime

/// The host ids a service's Dockerfile `RUN` steps get: root in the build is a host uid of
/// the service's own 65536-id block, never host root, and never an id of a replica or of
/// another service's builds.
public enum BuildIdentity {
    /// The first id of the build blocks (0x60000000, below the service uids of
    /// `SandboxIdentity`, which start at 0x70000000).
    public static let base: UInt32 = 0x6000_0000
    /// Ids per service: a whole uid_t range for the build's user namespace.
    public static let blockSize: UInt32 = 1 << 16
    /// How many blocks fit below `SandboxIdentity.serviceUIDBase`.
    public static let blockCount: UInt32 = (SandboxIdentity.serviceUIDBase - base) / blockSize

    /// The first host id of the service's block (FNV-1a of the service key, as the service uid).
    public static func firstUID(forService serviceID: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ("build/" + serviceID).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return base + UInt32(truncatingIfNeeded: hash % UInt64(blockCount)) * blockSize
    }

    /// SIGKILLs every process whose real uid is in the block starting at `firstUID`: what a
    /// killed build left running (a RUN step lives in a session of its own under runc).
    /// Builds of one service never overlap, so these are all leftovers.
    public static func killProcesses(from firstUID: UInt32) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries.compactMap(Int32.init) {
            guard let status = ProcFile.read("/proc/\(pid)/status"),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                let uid = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ UInt32($0) }),
                uid >= firstUID, uid - firstUID < blockSize
            else { continue }
            kill(pid, SIGKILL)
        }
    }
}

/// One `buildah bud` of a Dockerfile, as plain values; `ImageStore.buildCommand` turns it
/// into the command line. Nothing in it from the Dockerfile or the user becomes an option:
/// paths were resolved inside the upload, and positional arguments follow `--`.
public struct DockerfileBuildSpec: Sendable, Equatable {
    /// The build context (the upload, or its root directory).
    public var contextDirectory: URL
    /// The Dockerfile, inside the upload.
    public var dockerfile: URL
    /// `localhost/yard/<service id>:<deployment id>`.
    public var tag: String
    /// Build arguments by name; their values go through the environment, never argv.
    public var buildArguments: [String: String]
    /// `RUN --mount=type=secret,id=NAME` secrets: name → a 0600 file holding the value.
    public var secretFiles: [String: URL]
    /// The service's folder for `RUN --mount=type=cache` (buildah keeps them, and each
    /// step's mounted root, under TMPDIR): every folder on its path must be traversable.
    public var cacheDirectory: URL
    /// The egress-only network namespace the build's steps run in (`/run/netns/<name>`).
    public var networkNamespacePath: String
    /// The first host uid/gid of the build's user namespace (`BuildIdentity`).
    public var firstHostID: UInt32
    public var limits: ResourceLimits
    /// `--no-cache`: no layer reused.
    public var noCache: Bool
    /// Where buildah writes the built image's id.
    public var imageIDFile: URL

    public init(
        contextDirectory: URL, dockerfile: URL, tag: String, buildArguments: [String: String], secretFiles: [String: URL],
        cacheDirectory: URL, networkNamespacePath: String, firstHostID: UInt32, limits: ResourceLimits, noCache: Bool,
        imageIDFile: URL
    ) {
        self.contextDirectory = contextDirectory
        self.dockerfile = dockerfile
        self.tag = tag
        self.buildArguments = buildArguments
        self.secretFiles = secretFiles
        self.cacheDirectory = cacheDirectory
        self.networkNamespacePath = networkNamespacePath
        self.firstHostID = firstHostID
        self.limits = limits
        self.noCache = noCache
        self.imageIDFile = imageIDFile
    }
}

extension ImageStore {
    /// The image name of a deployment's build.
    public static func deploymentImageName(serviceID: String, deploymentID: String) -> String {
        "localhost/yard/\(serviceID.lowercased()):\(deploymentID.lowercased())"
    }

    /// `nsenter --net=<ns> -- buildah bud …`: the build runs in the build's network
    /// namespace (its steps share it through `--network=host`), in a user namespace of the
    /// service's build ids, with runc (`--isolation oci`).
    public func buildCommand(_ spec: DockerfileBuildSpec) throws(YardError) -> SystemCommand {
        guard let nsenter = SystemTool.locate("nsenter") else { throw SystemTool.missing("nsenter", neededFor: "Dockerfile builds") }
        guard let buildah = SystemTool.locate("buildah") else { throw SystemTool.missing("buildah", neededFor: "Dockerfile builds") }
        var environment = toolEnvironment
        // buildah keeps `RUN --mount=type=cache` folders under TMPDIR: one per service.
        environment["TMPDIR"] = spec.cacheDirectory.path
        for (name, value) in spec.buildArguments { environment[name] = value }
        return SystemCommand(
            nsenter, ["--net=\(spec.networkNamespacePath)", "--", buildah] + Self.budArguments(spec), environment: environment)
    }

    /// buildah's own arguments (after `buildah`), without any secret or variable value.
    public static func budArguments(_ spec: DockerfileBuildSpec) -> [String] {
        let ids = "0:\(spec.firstHostID):\(BuildIdentity.blockSize)"
        var arguments = [
            // No --layers: buildah 1.28 commits a user-namespaced step with host ids, and the
            // next step of the stage then finds its files owned by nobody (docs/architecture.md).
            "bud", "--layers=false", "--pull=never", "--isolation=oci", "--network=host",
            "--userns-uid-map=\(ids)", "--userns-gid-map=\(ids)",
            "--file=\(spec.dockerfile.path)", "--tag=\(spec.tag)", "--iidfile=\(spec.imageIDFile.path)",
            "--force-rm", "--stdin=false",
        ]
        if spec.noCache { arguments.append("--no-cache") }
        if let memory = spec.limits.memoryBytes { arguments.append("--memory=\(memory)") }
        if let cpus = spec.limits.cpus {
            arguments += ["--cpu-period=100000", "--cpu-quota=\(max(1000, Int(cpus * 100_000)))"]
        }
        // `--build-arg NAME` takes the value from buildah's environment.
        for name in spec.buildArguments.keys.sorted() { arguments.append("--build-arg=\(name)") }
        for name in spec.secretFiles.keys.sorted() {
            arguments.append("--secret=id=\(name),src=\(spec.secretFiles[name]!.path)")
        }
        arguments += ["--", spec.contextDirectory.path]
        return arguments
    }

    /// Writes each secret to a 0600 file in `directory` (created 0700) for `--secret`.
    public static func writeSecretFiles(_ secrets: [String: String], in directory: URL) throws -> [String: URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var files: [String: URL] = [:]
        for (index, name) in secrets.keys.sorted().enumerated() {
            let file = directory.appendingPathComponent("secret-\(index)")
            guard FileManager.default.createFile(atPath: file.path, contents: Data(secrets[name]!.utf8), attributes: [.posixPermissions: 0o600])
            else { throw YardError(.internal, "could not write the build secret file for \(name)") }
            files[name] = file
        }
        return files
    }

    /// The ids of the store's buildah working containers (`<base>-working-container…`, the
    /// names `buildah bud` gives its stages' containers).
    public func buildContainers() async throws -> Set<String> {
        let output = try await run(.buildah, ["containers", "--notruncate", "--format", "{{.ContainerID}} {{.ContainerName}}"]).standardOutput
        return Set(output.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 1)
            return fields.count == 2 && fields[1].contains("-working-container") ? String(fields[0]) : nil
        })
    }

    /// Removes buildah working containers (a killed build's).
    public func removeBuildContainers(_ ids: Set<String>) async {
        for id in ids.sorted() {
            _ = try? await command(.buildah, ["rm", "--", id]).result()
        }
    }

    /// Removes the store's dangling images (untagged build layers no image refers to), so
    /// the layer cache stays bounded once old deployments' images are gone.
    public func pruneDanglingImages() async throws {
        _ = try await command(.podman, ["image", "prune", "--force"]).result()
    }

    /// The image of a Dockerfile stage's cached start (`DockerfilePrefix` in YardBuild):
    /// `localhost/yard-cache/<service id>:<key>`.
    public static func prefixImageName(serviceID: String, key: String) -> String {
        "localhost/yard-cache/\(serviceID.lowercased()):\(key.prefix(40))"
    }

    /// Removes the service's cached stage starts except `keeping` (names); their layers stay
    /// while an image built on them does.
    public func removePrefixImages(serviceID: String, keeping: Set<String>) async {
        let repository = "localhost/yard-cache/\(serviceID.lowercased()):"
        guard let output = try? await run(.podman, ["images", "--noheading", "--format", "{{.Repository}}:{{.Tag}}"]).standardOutput
        else { return }
        for name in output.split(whereSeparator: \.isNewline).map(String.init) where name.hasPrefix(repository) && !keeping.contains(name) {
            try? await remove(name)
        }
    }

    /// Gives image `id` (or name) one more name.
    public func tag(_ id: String, as name: String) async throws {
        try await run(.podman, ["tag", "--", id.hasPrefix("sha256:") ? String(id.dropFirst(7)) : id, name])
    }

    /// The names of images under `localhost/yard/`: deployments' built images.
    public func deploymentImages() async throws -> [String] {
        let output = try await run(.podman, ["images", "--noheading", "--format", "{{.Repository}}:{{.Tag}}"]).standardOutput
        return output.split(whereSeparator: \.isNewline).map(String.init).filter { $0.hasPrefix("localhost/yard/") }
    }
}

extension ImageStore {
    /// Gives back the image's own ids to the files a Dockerfile build's steps made.
    ///
    /// buildah 1.28, building as root with a user-namespace map, commits the files a step
    /// creates with their host ids (the build block, `firstHostID + id`) instead of the ids
    /// inside the build; the base image's files keep theirs. An image mixing both would show
    /// the step's files as unowned in every replica. This opens a container of the image
    /// with no map, puts each id of the block back to `id - firstHostID` (the mode again
    /// after it, since chown clears set-id bits), and commits that as the image's top layer
    /// under the same name. Returns how many entries changed.
    @discardableResult
    public func restoreBuildOwnership(of image: String, firstHostID: UInt32, blockSize: UInt32) async throws -> Int {
        let container = try await run(.buildah, ["from", "--pull=never", "--quiet", "--", image])
            .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            let root = try await run(.buildah, ["mount", "--", container]).standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let changed = try Self.shiftOwnership(under: URL(fileURLWithPath: root), from: firstHostID, count: blockSize)
            if changed > 0 {
                try await run(.buildah, ["commit", "--quiet", "--", container, image])
            }
            try await run(.buildah, ["rm", "--", container])
            return changed
        } catch {
            _ = try? await run(.buildah, ["rm", "--", container])
            throw error
        }
    }

    /// Walks `root` without following links or leaving its file system, and moves every uid
    /// and gid in `[first, first + count)` down by `first`.
    static func shiftOwnership(under root: URL, from first: UInt32, count: UInt32) throws -> Int {
        let range = first..<(first + count)
        var changed = 0
        func visit(_ path: String) throws {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            if range.contains(info.st_uid) || range.contains(info.st_gid) {
                let uid = range.contains(info.st_uid) ? info.st_uid - first : info.st_uid
                let gid = range.contains(info.st_gid) ? info.st_gid - first : info.st_gid
                guard lchown(path, uid, gid) == 0 else {
                    throw YardError(.internal, "could not give \(path) its image ids back (errno \(errno))")
                }
                if (info.st_mode & S_IFMT) != S_IFLNK, info.st_mode & (S_ISUID | S_ISGID) != 0 {
                    chmod(path, info.st_mode & 0o7777)
                }
                changed += 1
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { return }
            guard let directory = opendir(path) else { return }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                var child = stat()
                let childPath = path == "/" ? "/" + name : path + "/" + name
                // Stay on the image's file system (no /proc or binds under a mounted root).
                if lstat(childPath, &child) == 0, child.st_dev != info.st_dev, (child.st_mode & S_IFMT) == S_IFDIR { continue }
                try visit(childPath)
            }
        }
        try visit(root.path)
        return changed
    }
}
