import Foundation
import Testing
import YardCore

@testable import YardRuntime
@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// Real bwrap, real namespaces, real cgroups. Each test uses its own cgroup parent and checks
/// that nothing is left under it at the end.
@Suite struct SandboxLauncherTests {
    // MARK: - Filesystem

    @Test func rootIsReadOnlyWhileTmpAndWritableBindsAreWritable() async throws {
        try await withSandboxLauncher { launcher in
            let app = try TestEnvironment.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: app) }
            try "hello from the artifact\n".write(toFile: app + "/hello.txt", atomically: true, encoding: .utf8)
            let volume = app + "-volume"  // missing: the launcher creates it for the sandbox user
            defer { try? FileManager.default.removeItem(atPath: volume) }

            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    """
                    try() { if "$@" 2>/dev/null; then echo "$2 writable"; else echo "$2 read-only"; fi; }
                    try touch /yt-sandbox-probe
                    try touch /etc/yt-sandbox-probe
                    try touch \(app)/yt-sandbox-probe
                    try touch /tmp/probe
                    try touch /dev/shm/probe
                    try touch \(app)/data/probe
                    cat \(app)/hello.txt
                    echo from-the-sandbox > \(app)/data/note
                    """,
                    sandbox: SandboxSpec(
                        hostname: "yt-fs",
                        readOnlyBinds: [BindMount(source: app, target: app)],
                        writableBinds: [BindMount(source: volume, target: app + "/data")],
                        cgroupName: "yt-fs")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(
                output.lines(.stdout) == [
                    "/yt-sandbox-probe read-only", "/etc/yt-sandbox-probe read-only", "\(app)/yt-sandbox-probe read-only",
                    "/tmp/probe writable", "/dev/shm/probe writable", "\(app)/data/probe writable",
                    "hello from the artifact",
                ])
            #expect(!FileManager.default.fileExists(atPath: "/yt-sandbox-probe"))
            #expect(try String(contentsOfFile: volume + "/note", encoding: .utf8) == "from-the-sandbox\n")
            let owner = try FileManager.default.attributesOfItem(atPath: volume + "/note")[.ownerAccountID] as? NSNumber
            #expect(owner?.uint32Value == 65534)
        }
    }

    @Test func hiddenPathsAreEmptyAndBindsInsideThemStillWork() async throws {
        try await withSandboxLauncher { launcher in
            // Outside /tmp, which is private inside anyway.
            let data = "/var/tmp/yt-data-\(UUID().uuidString.prefix(8).lowercased())"
            defer { try? FileManager.default.removeItem(atPath: data) }
            try FileManager.default.createDirectory(atPath: data + "/artifacts/a1", withIntermediateDirectories: true)
            try "secret".write(toFile: data + "/store.sqlite", atomically: true, encoding: .utf8)
            try "code".write(toFile: data + "/artifacts/a1/app.txt", atomically: true, encoding: .utf8)
            var sandbox = SandboxSpec(
                hostname: "yt-hidden",
                readOnlyBinds: [BindMount(source: data + "/artifacts/a1", target: data + "/artifacts/a1")],
                cgroupName: "yt-hidden")
            sandbox.hiddenPaths = [data]
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "ls -A \(data); cat \(data)/artifacts/a1/app.txt; echo; cat \(data)/store.sqlite 2>/dev/null || echo hidden",
                    sandbox: sandbox),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["artifacts", "code", "hidden"])
        }
    }

    @Test func runsInTheSpecsWorkingDirectory() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            var spec = LaunchSpec.sandboxed("pwd")
            spec.workingDirectory = "/usr/share"
            let process = try await launcher.launch(spec, output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["/usr/share"])
        }
    }

    // MARK: - Identity

    @Test func runsAsAnUnprivilegedUserWithNoCapabilities() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed("id -u; id -g; id -G; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status"),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(
                output.lines(.stdout) == [
                    "65534", "65534", "65534",
                    "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
                    "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1",
                ])
        }
    }

    @Test func rootInsideKeepsUIDZeroWithoutAnyCapability() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "id -u; grep -E '^(CapEff|CapBnd):' /proc/self/status; touch /yt-root-probe 2>/dev/null || echo read-only",
                    sandbox: SandboxSpec(hostname: "yt-root", runAsRoot: true, cgroupName: "yt-root")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["0", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "read-only"])
        }
    }

    @Test func seesOnlyItsOwnProcesses() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "sleep 5 & ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; cat /proc/1/comm; ps -e -o pid= | wc -l; kill $!"
                ),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            let lines = output.lines(.stdout)
            let pids = try #require(lines.first).split(separator: " ").compactMap { Int($0) }
            #expect(pids.first == 1, "pid 1 is the sandbox's own init")
            #expect(pids.allSatisfy { $0 < 50 }, "only the sandbox's own processes: \(pids)")
            #expect(lines.dropFirst().first == "bwrap")
            #expect(Int(lines.last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 100 <= 8)
        }
    }

    @Test func hasTheGivenHostnameAndHostsFile() async throws {
        try await withSandboxLauncher { launcher in
            let directory = try TestEnvironment.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let hosts = directory + "/hosts"
            try "127.0.0.1 localhost\n10.213.0.5 api.railway.internal\n".write(toFile: hosts, atomically: true, encoding: .utf8)
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "hostname; cat /etc/hosts; getent hosts api.railway.internal",
                    sandbox: SandboxSpec(hostname: "rep-yt-42", hostsFile: hosts, cgroupName: "yt-hosts")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            let lines = output.lines(.stdout)
            #expect(Array(lines.prefix(3)) == ["rep-yt-42", "127.0.0.1 localhost", "10.213.0.5 api.railway.internal"])
            let resolved = try #require(lines.dropFirst(3).first).split(separator: " ", omittingEmptySubsequences: true)
            #expect(resolved == ["10.213.0.5", "api.railway.internal"])
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, name.count)
            #expect(String(cString: name) != "rep-yt-42", "the host's name is untouched")
        }
    }

    // MARK: - Environment and output

    @Test func environmentIsExactlyTheSpecs() async throws {
        try await withSandboxLauncher { launcher in
            let environment = [
                "PATH": "/usr/bin:/bin", "GREETING": "hello world", "EMPTY": "",
                "TRICKY": "it's \"quoted\" $HOME `id` \\ $(echo no)\nsecond line", "LD_LIBRARY_PATH": "/opt/lib",
            ]
            let output = OutputRecorder()
            let process = try await launcher.launch(
                LaunchSpec(
                    arguments: ["env", "-0"], environment: environment, workingDirectory: "/", label: "test",
                    sandbox: SandboxSpec(hostname: "yt-env", cgroupName: "yt-env")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            // NUL-separated entries; the newline inside TRICKY split the output into two lines.
            let printed = output.lines(.stdout).joined(separator: "\n")
            var seen: [String: String] = [:]
            for entry in printed.split(separator: "\0") {
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                seen[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            #expect(seen == environment)
        }
    }

    @Test func environmentWithoutPATHStaysWithoutPATH() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                LaunchSpec(
                    arguments: ["env"], environment: ["ONLY": "this"], workingDirectory: "/", label: "test",
                    sandbox: SandboxSpec(hostname: "yt-env2", cgroupName: "yt-env2")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["ONLY=this"])
        }
    }

    /// bwrap and setpriv run as root: a variable like LD_PRELOAD must not reach them.
    @Test func privilegedProgramsNeverSeeTheSpecsVariables() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                LaunchSpec(
                    arguments: ["/bin/sh", "-c", "echo \"$GCONV_PATH\"; exec sleep 30"],
                    environment: ["PATH": "/usr/bin:/bin", "GCONV_PATH": "/yt/evil", "SECRET": "hunter2"],
                    workingDirectory: "/", label: "test", sandbox: SandboxSpec(hostname: "yt-ld", cgroupName: "yt-ld")),
                output: output.handler)
            #expect(await eventually { output.lines(.stdout) == ["/yt/evil"] })
            let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(process.pid)/environ"))
            let names = String(decoding: environ, as: UTF8.self).split(separator: "\0").map { $0.prefix { $0 != "=" } }
            #expect(!names.isEmpty)
            #expect(names.allSatisfy { $0.hasPrefix("__YARD_SANDBOX_ENV_") }, "bwrap's own environment: \(names)")
            let commandLine = try String(contentsOfFile: "/proc/\(process.pid)/cmdline", encoding: .utf8)
            #expect(!commandLine.contains("hunter2"))
            process.signal(SIGKILL)
            #expect(await process.wait() == .signaled(signal: SIGKILL))
        }
    }

    @Test func capturesStdoutAndStderrLines() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed("echo one; echo two >&2; echo three; printf 'partial' >&2"), output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["one", "three"])
            #expect(output.lines(.stderr) == ["two", "partial"])
        }
    }

    @Test func reportsExitCodesAndSignalsAsPlainProcessesDo() async throws {
        try await withSandboxLauncher { launcher in
            let exited = try await launcher.launch(.sandboxed("exit 3", cgroupName: "yt-exit"), output: { _, _ in })
            #expect(await exited.wait() == .exited(code: 3))
            let signaled = try await launcher.launch(.sandboxed("kill -USR1 $$; sleep 5", cgroupName: "yt-usr1"), output: { _, _ in })
            #expect(await signaled.wait() == .signaled(signal: SIGUSR1))
        }
    }

    // MARK: - Signals

    @Test func sigtermReachesTheCommandAndLeavesItTimeToShutDown() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "trap 'echo draining; sleep 0.5; echo drained; exit 0' TERM; echo ready; while :; do sleep 0.1; done"),
                output: output.handler)
            #expect(await eventually { output.lines(.stdout) == ["ready"] })
            process.signal(SIGTERM)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["ready", "draining", "drained"])
        }
    }

    @Test func signalStopsTheWholeTree() async throws {
        try await withSandboxLauncher { launcher in
            let process = try await launcher.launch(
                .sandboxed("sleep 1000 & sleep 1000 & (sleep 1000 & wait) & wait"), output: { _, _ in })
            let sandboxed = try #require(process as? SandboxProcess)
            // bwrap outside, bwrap as pid 1, sh, three sleeps and a subshell.
            #expect(await eventually { sandboxed.cgroup.members().count == 7 })
            let members = sandboxed.cgroup.members()
            process.signal(SIGTERM)
            #expect(await process.wait() == .signaled(signal: SIGTERM))
            #expect(await eventually { members.allSatisfy(isDead) })
        }
    }

    @Test func sigkillKillsEverythingAndIsNotMistakenForAnOOMKill() async throws {
        try await withSandboxLauncher { launcher in
            let process = try await launcher.launch(
                .sandboxed("trap '' TERM; sleep 1000 & wait", limits: ResourceLimits(memoryBytes: 64 << 20)),
                output: { _, _ in })
            let sandboxed = try #require(process as? SandboxProcess)
            #expect(await eventually { sandboxed.cgroup.members().count == 4 })
            let members = sandboxed.cgroup.members()
            process.signal(SIGKILL)
            #expect(await process.wait() == .signaled(signal: SIGKILL))
            #expect(await eventually { members.allSatisfy(isDead) })
        }
    }

    // MARK: - Limits

    @Test func goingOverTheMemoryLimitIsReportedAsOOMKilled() async throws {
        try await withSandboxLauncher { launcher in
            let python = "/usr/bin/python3"
            try #require(access(python, X_OK) == 0, "python3 is missing: apt-get install -y python3")
            let output = OutputRecorder()
            let process = try await launcher.launch(
                LaunchSpec(
                    arguments: [python, "-c", "print('allocating', flush=True); data = b'x' * (200 * 1024 * 1024); print('survived')"],
                    environment: TestEnvironment.minimal, workingDirectory: "/", label: "test",
                    sandbox: SandboxSpec(hostname: "yt-oom", limits: ResourceLimits(memoryBytes: 64 << 20), cgroupName: "yt-oom")),
                output: output.handler)
            #expect(await process.wait() == .oomKilled)
            #expect(output.lines(.stdout) == ["allocating"])
        }
    }

    @Test func halfACPUHoldsABusyLoopToAboutHalfACore() async throws {
        try await withSandboxLauncher { launcher in
            let process = try await launcher.launch(
                .sandboxed("while :; do :; done", limits: ResourceLimits(cpus: 0.5)), output: { _, _ in })
            try await Task.sleep(for: .milliseconds(300))
            let start = try #require(process.usage())
            let startTime = ContinuousClock.now
            try await Task.sleep(for: .seconds(2))
            let end = try #require(process.usage())
            let wall = ContinuousClock.now - startTime
            process.signal(SIGKILL)
            _ = await process.wait()

            let cpuSeconds = Double(end.cpuNanoseconds - start.cpuNanoseconds) / 1e9
            let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
            let share = cpuSeconds / wallSeconds
            // Tolerant low bound: the rest of the test run competes for the two cores.
            #expect(share > 0.2 && share < 0.7, "used \(share) of a core under a 0.5 limit")
            #expect(end.memoryBytes > 0)
        }
    }

    @Test func maxProcessesStopsForks() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo all-started",
                    limits: ResourceLimits(maxProcesses: 4)),
                output: output.handler)
            let reason = await process.wait()
            #expect(reason != .exited(code: 0))
            #expect(!output.lines(.stdout).contains("all-started"))
            #expect(output.lines(.stderr).contains { $0.contains("Cannot fork") }, "\(output.lines(.stderr))")
        }
    }

    // MARK: - Cgroup lifetime

    @Test func usageIsReadWhileRunningAndTheCgroupGoesWithTheProcess() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(.sandboxed("echo up; exec sleep 30"), output: output.handler)
            let sandboxed = try #require(process as? SandboxProcess)
            #expect(await eventually { output.lines(.stdout) == ["up"] })
            let usage = try #require(process.usage())
            #expect(usage.memoryBytes > 0)
            #expect(usage.cpuNanoseconds > 0)
            #expect(sandboxed.cgroup.directories.allSatisfy { FileManager.default.fileExists(atPath: $0) })

            process.signal(SIGTERM)
            #expect(await process.wait() == .signaled(signal: SIGTERM))
            #expect(sandboxed.cgroup.directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            #expect(process.usage() == nil)
        }
    }

    @Test func removeLeftoversKillsAndRemovesSandboxesLeftByACrash() async throws {
        try await withSandboxLauncher { launcher in
            let first = try await launcher.launch(.sandboxed("sleep 1000", cgroupName: "yt-crash-a"), output: { _, _ in })
            let second = try await launcher.launch(.sandboxed("sleep 1000", cgroupName: "yt-crash-b"), output: { _, _ in })
            for process in [first, second] {
                let sandboxed = try #require(process as? SandboxProcess)
                #expect(await eventually { sandboxed.cgroup.members().count >= 3 })
            }

            let removed = try await SandboxLauncher.removeLeftovers(cgroupParent: launcher.configuration.cgroupParent)
            #expect(removed == ["yt-crash-a", "yt-crash-b"])
            #expect(await first.wait() == .signaled(signal: SIGKILL))
            #expect(await second.wait() == .signaled(signal: SIGKILL))
            #expect(cgroupParentDirectories(launcher.configuration.cgroupParent, layout: try CgroupLayout.detect()).isEmpty)
        }
    }

    @Test func sameCgroupNameTwiceAtOnceIsAConflict() async throws {
        try await withSandboxLauncher { launcher in
            let first = try await launcher.launch(.sandboxed("sleep 1000", cgroupName: "yt-twice"), output: { _, _ in })
            let sandboxed = try #require(first as? SandboxProcess)
            #expect(await eventually { !sandboxed.cgroup.members().isEmpty })
            let error = await #expect(throws: YardError.self) {
                _ = try await launcher.launch(.sandboxed("true", cgroupName: "yt-twice"), output: { _, _ in })
            }
            #expect(error?.code == .conflict)
            first.signal(SIGKILL)
            _ = await first.wait()
        }
    }

    // MARK: - Network

    @Test func runsInTheGivenNetworkNamespace() async throws {
        try await withSandboxLauncher { launcher in
            let ip = try requireIP()
            let namespace = "ys-ns-\(UUID().uuidString.prefix(6).lowercased())"
            try runTool(ip, "netns", "add", namespace)
            defer { try? runTool(ip, "netns", "delete", namespace) }

            let output = OutputRecorder()
            let process = try await launcher.launch(
                .sandboxed(
                    "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
                    sandbox: SandboxSpec(hostname: "yt-net", networkNamespace: namespace, cgroupName: "yt-net")),
                output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["lo"])
        }
    }

    // MARK: - Errors and fallback

    @Test func specsWithoutASandboxRunAsPlainProcesses() async throws {
        try await withSandboxLauncher { launcher in
            let output = OutputRecorder()
            let process = try await launcher.launch(.sh("id -u; echo $$"), output: output.handler)
            #expect(await process.wait() == .exited(code: 0))
            #expect(output.lines(.stdout) == ["\(getuid())", "\(process.pid)"], "no pid namespace, no uid change")
            #expect(process.usage() == nil)
        }
    }

    @Test func problemsBeforeStartingAreClearErrors() async throws {
        try await withSandboxLauncher { launcher in
            func message(_ spec: LaunchSpec) async -> String {
                do {
                    _ = try await launcher.launch(spec, output: { _, _ in })
                    return "started"
                } catch let error as YardError {
                    return error.message
                } catch {
                    return "\(error)"
                }
            }
            var missing = LaunchSpec.sandboxed("true")
            missing.arguments = ["no-such-command-yard"]
            #expect(await message(missing).contains("no executable with that name on the service's PATH"))

            var privateTmp = LaunchSpec.sandboxed("true")
            privateTmp.workingDirectory = try TestEnvironment.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: privateTmp.workingDirectory) }
            #expect(await message(privateTmp).contains("private tmpfs"))

            var badName = LaunchSpec.sandboxed("true")
            badName.environment["my-var"] = "value"
            #expect(await message(badName).contains("variable 'my-var'"))

            var noNamespace = LaunchSpec.sandboxed("true")
            noNamespace.sandbox?.networkNamespace = "yt-does-not-exist"
            #expect(await message(noNamespace).contains("network namespace 'yt-does-not-exist' does not exist"))

            var noSource = LaunchSpec.sandboxed("true")
            noSource.sandbox?.readOnlyBinds = [BindMount(source: "/nonexistent/yt-artifact", target: "/srv/app")]
            #expect(await message(noSource).contains("/nonexistent/yt-artifact"))

            var privateScript = LaunchSpec.sandboxed("true")
            let directory = try TestEnvironment.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            FileManager.default.createFile(atPath: directory + "/run.sh", contents: Data("#!/bin/sh\n".utf8))
            chmod(directory + "/run.sh", 0o700)
            privateScript.arguments = [directory + "/run.sh"]
            privateScript.sandbox?.readOnlyBinds = [BindMount(source: directory, target: directory)]
            #expect(await message(privateScript).contains("not executable by the sandbox user (uid 65534)"))
        }
    }
}

// MARK: - Helpers

extension LaunchSpec {
    /// `sh -c command` in a sandbox with the given (or a default) box.
    static func sandboxed(
        _ command: String, sandbox: SandboxSpec? = nil, cgroupName: String = "yt-sandbox",
        limits: ResourceLimits = ResourceLimits()
    ) -> LaunchSpec {
        LaunchSpec(
            arguments: ["/bin/sh", "-c", command], environment: TestEnvironment.minimal, workingDirectory: "/",
            label: "test",
            sandbox: sandbox ?? SandboxSpec(hostname: "yt-replica", limits: limits, cgroupName: cgroupName))
    }
}

/// Runs `body` with a launcher whose cgroup parent is the test's own; removes everything under
/// it afterwards, even when the body fails, and checks every cgroup was already gone. Fails
/// (never skips) when this machine cannot sandbox, saying what to install.
func withSandboxLauncher(_ body: (SandboxLauncher) async throws -> Void) async throws {
    let parent = "yt-\(UUID().uuidString.prefix(8).lowercased())"
    let (available, reason) = SandboxLauncher.isAvailable(cgroupParent: parent)
    try #require(available, "\(reason)")
    let launcher = SandboxLauncher(configuration: .init(cgroupParent: parent))
    do {
        try await body(launcher)
    } catch {
        _ = try? await SandboxLauncher.removeLeftovers(cgroupParent: parent)
        throw error
    }
    let leftovers = try await SandboxLauncher.removeLeftovers(cgroupParent: parent)
    #expect(leftovers.isEmpty, "cgroups still there after their processes exited: \(leftovers)")
    #expect(cgroupParentDirectories(parent, layout: try CgroupLayout.detect()).isEmpty)
}

func requireIP() throws -> String {
    let candidates: [String] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    let path = candidates.first { access($0, X_OK) == 0 }
    return try #require(path, "ip is missing: apt-get install -y iproute2")
}

func runTool(_ arguments: String...) throws {
    let process = ChildProcess()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw YardError(.internal, "\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
}
