import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Boxes whose root is an image instance (`SandboxSpec.image`).
///
/// The chain, one pid as for folder boxes: `sh` joins the cgroup → `nsenter --net` (the
/// host-owned namespace is joined before a user namespace exists, which could not join it)
/// → `sh` opens the seccomp program → `unshare --user` with ids 0…65535 mapped to the
/// service's block (`newuidmap`, allowed by root's `/etc/subuid` line) and becomes root
/// there → `bwrap` (own pid/ipc/uts/mount namespaces, the instance as a writable `/`, `/dev`,
/// `/proc`, private `/tmp` and `/dev/shm`, the hosts file and resolver, the volume; Docker's
/// default capabilities for a root image, none but the drop's for others; the seccomp
/// filter) → for a non-root `USER`, the image's own `setpriv` drops to it with no
/// capabilities and `no_new_privs` → the image's `/bin/sh` sets the environment → the
/// command (exec form).
extension SandboxLauncher {
    func launchImage(_ spec: LaunchSpec, sandbox: SandboxSpec, image: ImageBox, output: @escaping OutputHandler) async throws
        -> any LaunchedProcess
    {
        let tools = try SandboxTools.find()
        guard let unshare = SandboxTools.searchPath.map({ $0 + "/unshare" }).first(where: { access($0, X_OK) == 0 }) else {
            throw YardError(.unavailable, "unshare is missing: apt-get install -y util-linux")
        }
        let seccompFile = try Self.seccompProgramFile()
        let inside = ImageRoot(path: image.rootDirectory)
        guard inside.isExecutable("/bin/sh") else {
            throw YardError(.invalidConfig, "\(spec.label): the image has no /bin/sh, which Switchyard needs to pass its variables in")
        }
        let dropTool =
            image.uid == 0
            ? nil : ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv", "/sbin/setpriv"].first { inside.isExecutable($0) }
        if image.uid != 0 {
            guard dropTool != nil else {
                throw YardError(
                    .invalidConfig,
                    "\(spec.label): the image's USER is \(image.uid), and switching to it needs setpriv (util-linux) in the image; install util-linux in the Dockerfile or run as root"
                )
            }
        }
        return try await launchInCgroup(sandbox, label: spec.label, output: output) { processFiles in
            SandboxCommand(
                imageSpec: spec, sandbox: sandbox, image: image, tools: tools, unshare: unshare, dropTool: dropTool,
                cgroupProcessFiles: processFiles, seccompFile: seccompFile)
        }
    }
}

/// Paths inside an instance root, looked at from the host without following its symbolic
/// links out of it (an image is hostile): a link is resolved against the root.
struct ImageRoot {
    var path: String

    /// Whether `file` (absolute, inside) is a regular executable file, following links inside
    /// the root up to a few levels.
    func isExecutable(_ file: String) -> Bool {
        guard let resolved = resolve(file) else { return false }
        var info = stat()
        return lstat(resolved, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o111 != 0
    }

    /// A regular file's text (for `/etc/passwd`), or "" when it is missing or not a file.
    func text(of file: String) -> String {
        guard let resolved = resolve(file) else { return "" }
        var info = stat()
        guard lstat(resolved, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size < 4 << 20 else { return "" }
        return (try? String(contentsOfFile: resolved, encoding: .utf8)) ?? ""
    }

    /// The host path of `file`, each component's symbolic link followed inside the root.
    func resolve(_ file: String, depth: Int = 0) -> String? {
        guard depth < 16 else { return nil }
        var components = file.split(separator: "/").map(String.init)
        var done: [String] = []
        while !components.isEmpty {
            let component = components.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                _ = done.popLast()
                continue
            }
            let host = path + "/" + (done + [component]).joined(separator: "/")
            var info = stat()
            guard lstat(host, &info) == 0 else { return nil }
            if info.st_mode & S_IFMT == S_IFLNK {
                var buffer = [CChar](repeating: 0, count: 4096)
                let count = readlink(host, &buffer, buffer.count - 1)
                guard count > 0 else { return nil }
                let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let base = target.hasPrefix("/") ? "" : "/" + done.joined(separator: "/")
                return resolve(base + "/" + target + "/" + components.joined(separator: "/"), depth: depth + 1)
            }
            done.append(component)
        }
        return path + "/" + done.joined(separator: "/")
    }
}

extension SandboxCommand {
    init(
        imageSpec spec: LaunchSpec, sandbox: SandboxSpec, image: ImageBox, tools: SandboxTools, unshare: String,
        dropTool: String?, cgroupProcessFiles: [String], seccompFile: String
    ) {
        let seccomp = Self.seccompStep(seccompFile, shell: tools.shell)
        let count = String(SandboxIdentity.imageIDCount)
        let userNamespace = [
            unshare, "--user", "--map-users=\(image.idBase),0,\(count)", "--map-groups=\(image.idBase),0,\(count)",
            "--setuid", "0", "--setgid", "0", "--",
        ]
        var bwrap =
            [
                tools.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--hostname", sandbox.hostname, "--bind", image.rootDirectory, "/", "--dev", "/dev", "--proc", "/proc",
            ] + Self.scratchMounts(limits: sandbox.limits) + seccomp.bwrap
        for bind in sandbox.readOnlyBinds { bwrap += ["--ro-bind", bind.source, bind.target] }
        for bind in sandbox.writableBinds { bwrap += ["--bind", bind.source, bind.target] }
        if let hosts = sandbox.hostsFile { bwrap += ["--ro-bind", hosts, "/etc/hosts"] }
        // A root image keeps Docker's set; a non-root one only what its drop needs, then none.
        let capabilities = dropTool == nil ? ImageBox.defaultCapabilities : ["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"]
        bwrap += ["--cap-drop", "ALL"] + capabilities.flatMap { ["--cap-add", $0] }
        bwrap += ["--chdir", spec.workingDirectory, "--"]
        let drop =
            dropTool.map {
                [
                    $0, "--reuid=\(image.uid)", "--regid=\(image.gid)", "--clear-groups", "--inh-caps=-all",
                    "--bounding-set=-all", "--no-new-privs", "--",
                ]
            } ?? []
        let variables = spec.environment.sorted { $0.key < $1.key }
        let setEnvironment = ["/bin/sh", "-c", Self.environmentScript, "sandbox-env", String(variables.count)] + spec.arguments
        let network = sandbox.networkNamespace.map { [tools.nsenter, "--net=\(Self.namespacePath($0))", "--"] } ?? []
        let join = [tools.shell, "-c", Self.joinScript, "sandbox-join", String(cgroupProcessFiles.count)] + cgroupProcessFiles
        arguments = join + network + seccomp.chain + userNamespace + bwrap + drop + setEnvironment
        environment = [:]
        for (index, variable) in variables.enumerated() {
            environment[Self.environmentPrefix + String(index)] = "\(variable.key)=\(variable.value)"
        }
    }
}
