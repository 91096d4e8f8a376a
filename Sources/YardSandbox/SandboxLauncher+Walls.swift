import Foundation
import Synchronization
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The walls every box gets whatever it runs: the seccomp filter, the host's traces of other
/// tenants hidden, and size-bounded scratch filesystems.
extension SandboxLauncher {
    /// Host paths that show other tenants or the host's plumbing, covered by an empty tmpfs in
    /// every box: cgroup names (`/sys/fs/cgroup`), the host's interfaces (one veth per replica,
    /// one bridge per environment), network namespace names and the host's sockets (`/run`),
    /// and the host's shared temporary folder (`/var/tmp`).
    static let hostTraces = ["/run", "/var/tmp", "/sys/fs/cgroup", "/sys/class/net", "/sys/devices/virtual/net"]

    /// Adds the host traces to the box's hidden paths; when `/etc/resolv.conf` points into one
    /// of them (systemd-resolved's file in /run), that file is bound back so names still resolve.
    static func hideHostTraces(_ sandbox: inout SandboxSpec) {
        sandbox.hiddenPaths += hostTraces.filter { !sandbox.hiddenPaths.contains($0) }
        guard let resolver = realpath("/etc/resolv.conf", nil) else { return }
        let target = String(cString: resolver)
        free(resolver)
        if target != "/etc/resolv.conf", hostTraces.contains(where: { SandboxFilesystem.isWithin(target, $0) }) {
            sandbox.readOnlyBinds.append(BindMount(source: target, target: target))
        }
    }

    /// The compiled filter, written once per process to a root-only file that the chain opens as
    /// bwrap's `--seccomp` descriptor. Throws `unavailable` on a processor without a table.
    static func seccompProgramFile() throws -> String {
        try seccompFile.withLock { cached in
            if let cached { return cached }
            guard let architecture = SeccompFilter.Architecture.current else {
                throw YardError(.unavailable, "the sandbox's seccomp filter has no system call table for this processor (x86_64 and aarch64 only)")
            }
            let program = SeccompFilter(architecture: architecture).bytes
            let directory = "/run/yard-sandbox"
            let path = "\(directory)/seccomp-\(ContentHash.sha256(program).prefix(16)).bpf"
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                if (try? Data(contentsOf: URL(fileURLWithPath: path))) != program {
                    try program.write(to: URL(fileURLWithPath: path), options: .atomic)
                }
            } catch {
                throw YardError(.unavailable, "cannot write the sandbox's seccomp filter to \(path)", cause: error)
            }
            cached = path
            return path
        }
    }

    private static let seccompFile = Mutex<String?>(nil)
}

extension SandboxCommand {
    /// Runs as root by `sh` before bwrap: opens the seccomp program (`$0`) as descriptor 3. dash
    /// exports PWD; it goes, so bwrap sees only the encoded variables.
    static let seccompScript = #"unset PWD; exec "$@" 3<"$0""#

    /// The chain step that hands bwrap its filter, and bwrap's option that loads it.
    static func seccompStep(_ file: String, shell: String) -> (chain: [String], bwrap: [String]) {
        ([shell, "-c", seccompScript, file], ["--seccomp", "3"])
    }

    /// The largest private `/tmp` when the box has no memory limit; with one, `/tmp` may use up
    /// to it (tmpfs pages count against the box's memory cgroup anyway).
    static let defaultScratchBytes: Int64 = 1 << 30
    /// `/dev/shm`'s size, as Docker's default.
    static let sharedMemoryBytes: Int64 = 64 << 20

    /// Private, size-bounded `/tmp` and `/dev/shm` (world-writable with the sticky bit).
    static func scratchMounts(limits: ResourceLimits) -> [String] {
        let scratch = limits.memoryBytes.map { max($0, sharedMemoryBytes) } ?? defaultScratchBytes
        return [
            "--perms", "1777", "--size", String(scratch), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", String(min(scratch, sharedMemoryBytes)), "--tmpfs", "/dev/shm",
        ]
    }
}
