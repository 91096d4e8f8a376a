import Foundation
import Testing
import YardCore

@testable import YardRuntime
@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// The sandbox chain's command line and filesystem view, as pure values.
@Suite struct SandboxCommandTests {
    let tools = SandboxTools(bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv", nsenter: "/usr/bin/nsenter")

    func command(_ sandbox: SandboxSpec, environment: [String: String] = ["PATH": "/usr/bin", "SECRET": "s3cret"])
        -> SandboxCommand
    {
        let spec = LaunchSpec(
            arguments: ["node", "server.js"], environment: environment, workingDirectory: "/srv/app", label: "web",
            sandbox: sandbox)
        return SandboxCommand(
            spec: spec, sandbox: sandbox, tools: tools,
            cgroupProcessFiles: ["/cg/memory/yard/r1/cgroup.procs", "/cg/pids/yard/r1/cgroup.procs"], uid: 65534,
            gid: 65534)
    }

    @Test func joinsTheCgroupsThenEntersTheNetworkThenBwrapThenDropsPrivileges() throws {
        var sandbox = SandboxSpec(
            hostname: "rep_1", networkNamespace: "yard-rep1",
            readOnlyBinds: [BindMount(source: "/data/artifacts/a1", target: "/srv/app")],
            writableBinds: [BindMount(source: "/data/volumes/v1", target: "/data")],
            hostsFile: "/data/run/rep_1/hosts", cgroupName: "rep_1")
        sandbox.hiddenPaths = ["/data"]
        let arguments = command(sandbox).arguments

        #expect(Array(arguments.prefix(2)) == ["/bin/sh", "-c"])
        #expect(Array(arguments[3...6]) == ["sandbox-join", "2", "/cg/memory/yard/r1/cgroup.procs", "/cg/pids/yard/r1/cgroup.procs"])
        #expect(Array(arguments[7...9]) == ["/usr/bin/nsenter", "--net=/run/netns/yard-rep1", "--"])
        let bwrap = try #require(arguments.firstIndex(of: "/usr/bin/bwrap"))
        #expect(bwrap == 10)
        let text = arguments.joined(separator: " ")
        #expect(text.contains("--unshare-pid --unshare-ipc --unshare-uts --hostname rep_1"))
        #expect(text.contains("--ro-bind / / --dev /dev --proc /proc --perms 1777 --size 1073741824 --tmpfs /tmp"))
        #expect(text.contains("--perms 1777 --size 67108864 --tmpfs /dev/shm"))
        // Hidden paths first, so the artifact inside one can be bound back.
        #expect(
            text.contains(
                "--tmpfs /data --ro-bind /data/artifacts/a1 /srv/app --bind /data/volumes/v1 /data --ro-bind /data/run/rep_1/hosts /etc/hosts --chdir /srv/app --"
            ))
        #expect(
            text.contains(
                "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- /bin/sh -c"
            ))
        #expect(Array(arguments.suffix(4)) == ["sandbox-env", "2", "node", "server.js"])
        #expect(!arguments.contains("--cap-drop"))
    }

    /// Root inside is root of a user namespace only: the chain drops to the box's uid before
    /// bwrap, which maps that uid to 0 (bwrap started as root would map the host's root).
    @Test func rootIsRootOnlyInAUserNamespaceOfTheBoxUIDAndTheHostNetworkIsShared() throws {
        let arguments = command(SandboxSpec(hostname: "build", runAsRoot: true, cgroupName: "b1")).arguments
        #expect(!arguments.contains("/usr/bin/nsenter"))
        let setpriv = try #require(arguments.firstIndex(of: "/usr/bin/setpriv"))
        let bwrap = try #require(arguments.firstIndex(of: "/usr/bin/bwrap"))
        #expect(setpriv < bwrap, "the uid is dropped before bwrap runs")
        #expect(
            Array(arguments[setpriv...].prefix(9)) == [
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", "--", "/usr/bin/bwrap",
            ])
        #expect(Array(arguments[bwrap...].prefix(6)) == ["/usr/bin/bwrap", "--unshare-user", "--uid", "0", "--gid", "0"])
        #expect(arguments.filter { $0 == "/usr/bin/setpriv" }.count == 1, "nothing runs between bwrap and the command")
    }

    @Test func serviceUIDsAreStableDistinctAndOutsideTheSystemRanges() {
        let first = SandboxIdentity.uid(forService: "svc_01HZX")
        #expect(first == SandboxIdentity.uid(forService: "svc_01HZX"))
        #expect(first != SandboxIdentity.uid(forService: "svc_01HZY"))
        #expect(SandboxIdentity.isServiceUID(first) && first != 65534)
        #expect(!SandboxIdentity.isServiceUID(SandboxIdentity.shellUID))
        let files = SandboxIdentity.accountFiles(uid: first, hostPasswd: "root:x:0:0::/root:/bin/sh", hostGroup: "root:x:0:\n")
        #expect(files.passwd == "root:x:0:0::/root:/bin/sh\napp:x:\(first):\(first):Switchyard service:/tmp:/usr/sbin/nologin\n")
        #expect(files.group == "root:x:0:\napp:x:\(first):\n")
    }

    @Test func mountPointsInSystemFoldersAreRefused() {
        for bad in ["/etc/nologin", "/etc", "/usr/local/x", "/", "/var/run/x", "/data/../etc", "relative", "/root/.ssh"] {
            #expect(VolumeMountPath.problem(with: bad) != nil, "\(bad)")
        }
        for good in ["/data", "/app/data", "/var/lib/postgresql/data", "/var/lib/mysql", "/srv/files", "/mnt/x"] {
            #expect(VolumeMountPath.problem(with: good) == nil, "\(good)")
        }
    }

    /// Privileged programs in the chain must not see variables like LD_PRELOAD; values are
    /// never on a command line (readable by every user through /proc).
    @Test func variablesTravelEncodedAndNeverOnTheCommandLine() {
        let built = command(SandboxSpec(hostname: "h", cgroupName: "c"), environment: ["LD_PRELOAD": "/app/x.so", "PATH": "/bin"])
        #expect(built.environment == ["__YARD_SANDBOX_ENV_0": "LD_PRELOAD=/app/x.so", "__YARD_SANDBOX_ENV_1": "PATH=/bin"])
        #expect(!built.arguments.contains { $0.contains("/app/x.so") })
    }

    @Test func acceptsOnlyVariableNamesTheShellCanExport() throws {
        for good in ["PATH", "_x", "RAILWAY_PRIVATE_DOMAIN", "a1"] { #expect(SandboxCommand.isShellName(good)) }
        for bad in ["", "1A", "my-var", "a.b", "é", "A B"] { #expect(!SandboxCommand.isShellName(bad)) }
        let error = try #require(throws: YardError.self) {
            try SandboxCommand.checkEnvironment(["my-var": "secret-value"], label: "web")
        }
        #expect(error.message.contains("'my-var'"))
        #expect(!error.message.contains("secret-value"))
        #expect(throws: YardError.self) { try SandboxCommand.checkEnvironment(["__YARD_SANDBOX_ENV_0": "x"], label: "web") }
    }

    @Test func reportsBwrapsSignalExitCodesAsSignals() {
        #expect(SandboxProcess.translate(.exited(code: 143)) == .signaled(signal: SIGTERM))
        #expect(SandboxProcess.translate(.exited(code: 137)) == .signaled(signal: SIGKILL))
        #expect(SandboxProcess.translate(.exited(code: 3)) == .exited(code: 3))
        #expect(SandboxProcess.translate(.exited(code: 128)) == .exited(code: 128))
        #expect(SandboxProcess.translate(.signaled(signal: SIGKILL)) == .signaled(signal: SIGKILL))
    }

    /// bwrap would create them 0700, out of the sandbox user's reach.
    @Test func makesTheParentsOfMountPointsInAFreshTmpfsReadable() {
        var sandbox = SandboxSpec(
            hostname: "h",
            readOnlyBinds: [
                BindMount(source: "/tmp/yard-data/artifacts/a1", target: "/tmp/yard-data/artifacts/a1"),
                BindMount(source: "/tmp/yard-data/artifacts/a2", target: "/tmp/yard-data/artifacts/a2"),
            ],
            writableBinds: [BindMount(source: "/srv/v1", target: "/tmp/yard-data/artifacts/a1/data")],
            cgroupName: "c")
        sandbox.hiddenPaths = ["/tmp/yard-data"]
        let text = command(sandbox).arguments.joined(separator: " ")
        #expect(
            text.contains(
                "--tmpfs /tmp/yard-data --perms 0755 --dir /tmp/yard-data/artifacts --ro-bind /tmp/yard-data/artifacts/a1 /tmp/yard-data/artifacts/a1 --ro-bind /tmp/yard-data/artifacts/a2 /tmp/yard-data/artifacts/a2 --bind /srv/v1 /tmp/yard-data/artifacts/a1/data --chdir"
            ), "\(text)")
    }

    @Test func resolvesPathsThroughTheMountsInOrder() {
        var sandbox = SandboxSpec(
            hostname: "h",
            readOnlyBinds: [BindMount(source: "/var/lib/yard/artifacts/a1", target: "/var/lib/yard/artifacts/a1")],
            writableBinds: [BindMount(source: "/var/lib/yard/volumes/v1", target: "/var/lib/yard/artifacts/a1/data")],
            hostsFile: "/var/lib/yard/run/r1/hosts", cgroupName: "c")
        sandbox.hiddenPaths = ["/var/lib/yard"]
        let view = SandboxFilesystem(sandbox: sandbox)
        #expect(view.resolve("/usr/bin/env") == .host("/usr/bin/env"))
        #expect(view.resolve("/tmp/x") == .fresh)
        #expect(view.resolve("/var/lib/yard/store.sqlite") == .fresh, "the hidden data directory is an empty tmpfs")
        #expect(view.resolve("/var/lib/yard/artifacts/a1/app.py") == .host("/var/lib/yard/artifacts/a1/app.py"))
        #expect(view.resolve("/var/lib/yard/artifacts/a1/data/f") == .host("/var/lib/yard/volumes/v1/f"))
        #expect(view.resolve("/etc/hosts") == .host("/var/lib/yard/run/r1/hosts"))
        #expect(view.resolve("/var/lib/yard/artifacts/a1/data", limit: 7) == .host("/var/lib/yard/artifacts/a1/data"))
        #expect(view.exists("/tmp"))
        #expect(view.exists("/var/lib/yard/artifacts"), "bwrap creates the mount point's parents in the tmpfs")
        #expect(!view.exists("/tmp/not-bound"))
    }
}
