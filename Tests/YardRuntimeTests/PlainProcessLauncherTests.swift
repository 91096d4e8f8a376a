import Foundation
import Testing
import YardCore

@testable import YardRuntime

#if canImport(Glibc)
import Glibc
#endif

@Suite struct PlainProcessLauncherTests {
    let launcher = PlainProcessLauncher()

    @Test func capturesStdoutAndStderrLinesInOrderPerStream() async throws {
        let output = OutputRecorder()
        let process = try await launcher.launch(
            .sh("echo one; echo two >&2; echo three; printf 'four\\r\\nfive' ; printf 'err-partial' >&2"),
            output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        #expect(output.lines(.stdout) == ["one", "three", "four", "five"])
        #expect(output.lines(.stderr) == ["two", "err-partial"])
    }

    @Test func capsVeryLongLinesAt16KiB() async throws {
        let output = OutputRecorder()
        let process = try await launcher.launch(
            .sh("head -c 40000 /dev/zero | tr '\\0' x; echo; echo after"), output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        let lines = output.lines(.stdout)
        #expect(lines.map(\.count) == [16384, 16384, 40000 - 2 * 16384, 5])
        #expect(lines.last == "after")
    }

    /// The git push hang: a pipe some other code opened without close-on-exec (Foundation's
    /// `Pipe()`, a CGI's output) must not reach a long-lived child, or its reader never sees
    /// end-of-file while that child runs.
    @Test func childInheritsNoDescriptorBeyondStdio() async throws {
        var leaky: [Int32] = [0, 0]
        #expect(pipe(&leaky) == 0)
        defer { leaky.forEach { close($0) } }
        #expect(fcntl(leaky[1], F_GETFD) & FD_CLOEXEC == 0, "the test needs a descriptor that is not close-on-exec")
        let leakedPipe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(leaky[1])")
        let process = try await launcher.launch(.sh("exec sleep 30"), output: { _, _ in })
        defer { process.signal(SIGKILL) }
        // The shell execs sleep; the descriptors are those of the spawned pid either way.
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd")
        let targets = descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/fd/\($0)") }
        #expect(!targets.contains(leakedPipe), "the child holds the parent's pipe \(leakedPipe): \(targets)")
        #expect(descriptors.compactMap { Int32($0) }.allSatisfy { $0 <= 2 }, "descriptors beyond stdio: \(descriptors.sorted()) → \(targets)")
        process.signal(SIGKILL)
        _ = await process.wait()
    }

    @Test func closeOnExecPipeIsCloseOnExecAtBothEnds() throws {
        let pipe = try CloseOnExecPipe.make(label: "test")
        defer { close(pipe.read); close(pipe.write) }
        #expect(fcntl(pipe.read, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.write, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func reportsExitCodes() async throws {
        let process = try await launcher.launch(.sh("exit 3"), output: { _, _ in })
        #expect(await process.wait() == .exited(code: 3))
    }

    @Test func reportsDeathBySignal() async throws {
        let process = try await launcher.launch(.sh("kill -USR1 $$; sleep 5"), output: { _, _ in })
        #expect(await process.wait() == .signaled(signal: SIGUSR1))
    }

    @Test func appliesExactlyTheSpecsEnvironment() async throws {
        let output = OutputRecorder()
        let spec = LaunchSpec(
            arguments: ["env"], environment: ["PATH": "/usr/bin:/bin", "GREETING": "hello world", "EMPTY": ""],
            workingDirectory: "/", label: "test")
        let process = try await launcher.launch(spec, output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        #expect(output.lines(.stdout).sorted() == ["EMPTY=", "GREETING=hello world", "PATH=/usr/bin:/bin"])
    }

    @Test func runsInTheSpecsWorkingDirectoryAndResolvesRelativeCommandsThere() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/run.sh"
        try "#!/bin/sh\npwd\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)

        let output = OutputRecorder()
        let spec = LaunchSpec(
            arguments: ["./run.sh"], environment: TestEnvironment.minimal, workingDirectory: directory, label: "test")
        let process = try await launcher.launch(spec, output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        #expect(output.lines(.stdout) == [directory])
    }

    @Test func startsTheProcessAsItsOwnSessionAndGroupLeader() async throws {
        let process = try await launcher.launch(.sh("sleep 30"), output: { _, _ in })
        #expect(getpgid(process.pid) == process.pid)
        #expect(getsid(process.pid) == process.pid)
        process.signal(SIGKILL)
        #expect(await process.wait() == .signaled(signal: SIGKILL))
    }

    @Test func signalReachesGrandchildren() async throws {
        let output = OutputRecorder()
        let process = try await launcher.launch(.sh("sleep 1000 & echo $!; wait"), output: output.handler)
        #expect(await eventually { !output.lines(.stdout).isEmpty })
        let grandchild = try #require(Int32(output.lines(.stdout).first ?? ""))
        #expect(!isDead(grandchild))

        process.signal(SIGTERM)
        #expect(await process.wait() == .signaled(signal: SIGTERM))
        #expect(await eventually { isDead(grandchild) })
    }

    @Test func reapsTheLeaderAndKillsWhatIsLeftOfItsGroupWhenItExits() async throws {
        let output = OutputRecorder()
        // A long grace, so that only the group kill can end the wait early.
        let patient = PlainProcessLauncher(outputGracePeriod: .seconds(20))
        let process = try await patient.launch(.sh("sleep 1000 & echo $!"), output: output.handler)
        let started = ContinuousClock.now
        #expect(await process.wait() == .exited(code: 0))
        // The background sleep held the pipes; killing the group ended them well before the grace.
        #expect(ContinuousClock.now - started < .seconds(10))
        let grandchild = try #require(Int32(output.lines(.stdout).first ?? ""))
        #expect(await eventually { isDead(grandchild) })
        #expect(OrphanReaper.readStat(pid: process.pid) == nil, "the leader must be reaped, not left a zombie")
    }

    @Test func stopsWaitingForOutputAfterTheGraceWhenAnEscapedProcessHoldsThePipe() async throws {
        // As a subreaper we inherit the escaped process when its shell exits, so we can reap it.
        #expect(Supervisor.becomeSubreaper())
        let launcher = PlainProcessLauncher(outputGracePeriod: .milliseconds(300))
        let output = OutputRecorder()
        // `setsid` moves the sleep out of the process group, so the group kill misses it.
        let process = try await launcher.launch(
            // The leader waits long enough for the escaped shell to print even on a loaded machine.
            .sh("setsid sh -c 'echo $$; exec sleep 30' & sleep 1.5; echo leader-done"), output: output.handler)
        let reason = await process.wait()
        let escaped = try #require(output.lines(.stdout).compactMap { Int32($0) }.first)
        defer {
            kill(escaped, SIGKILL)
            if OrphanReaper.readStat(pid: escaped)?.parentPID == getpid() { waitpid(escaped, nil, 0) }
        }
        #expect(reason == .exited(code: 0))
        #expect(output.lines(.stdout).contains("leader-done"))
        #expect(!isDead(escaped), "the escaped process is still running, so only the grace ended the wait")
    }

    @Test func missingExecutableIsAClearError() async throws {
        let spec = LaunchSpec(
            arguments: ["no-such-command-yard"], environment: TestEnvironment.minimal, workingDirectory: "/",
            label: "web")
        let error = try await #require(throws: YardError.self) {
            _ = try await launcher.launch(spec, output: { _, _ in })
        }
        #expect(error.code == .invalidConfig)
        #expect(error.message.contains("'no-such-command-yard'"))
        #expect(error.message.contains("PATH"))

        let absolute = LaunchSpec(
            arguments: ["/nonexistent/bin/app"], environment: [:], workingDirectory: "/", label: "web")
        let absoluteError = try await #require(throws: YardError.self) {
            _ = try await launcher.launch(absolute, output: { _, _ in })
        }
        #expect(absoluteError.message.contains("does not exist"))
    }

    @Test func badWorkingDirectoryIsAClearError() async throws {
        let spec = LaunchSpec(
            arguments: ["/bin/true"], environment: [:], workingDirectory: "/nonexistent/app", label: "web")
        let error = try await #require(throws: YardError.self) {
            _ = try await launcher.launch(spec, output: { _, _ in })
        }
        #expect(error.message.contains("working directory '/nonexistent/app' does not exist"))
    }

    @Test func resolvesBareCommandsAgainstTheSpecsPATHOnly() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "#!/bin/sh\necho from-custom-path\n".write(
            toFile: directory + "/yard-hello", atomically: true, encoding: .utf8)
        chmod(directory + "/yard-hello", 0o755)

        let output = OutputRecorder()
        let spec = LaunchSpec(
            arguments: ["yard-hello"], environment: ["PATH": "/usr/bin:\(directory)"], workingDirectory: "/",
            label: "test")
        let process = try await launcher.launch(spec, output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        #expect(output.lines(.stdout) == ["from-custom-path"])

        let withoutDirectory = LaunchSpec(
            arguments: ["yard-hello"], environment: TestEnvironment.minimal, workingDirectory: "/", label: "test")
        await #expect(throws: YardError.self) {
            _ = try await launcher.launch(withoutDirectory, output: { _, _ in })
        }
    }

    @Test func stdinIsEmpty() async throws {
        let output = OutputRecorder()
        let process = try await launcher.launch(.sh("cat; echo eof"), output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        #expect(output.lines(.stdout) == ["eof"])
    }

    @Test func childStartsWithNoIgnoredStandardSignals() async throws {
        // Our process ignores SIGPIPE (NIO does); a child must not inherit that. (glibc keeps
        // its two internal real-time signals, 32 and 33, out of reach of posix_spawn.)
        let output = OutputRecorder()
        let process = try await launcher.launch(.sh("grep -E '^SigIgn' /proc/self/status"), output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        let line = try #require(output.lines(.stdout).first)
        let ignored = try #require(UInt64(line.replacingOccurrences(of: "SigIgn:\t", with: ""), radix: 16))
        let standardSignals: UInt64 = (1 << 31) - 1  // bit n-1 is signal n, for signals 1...31
        #expect(ignored & standardSignals == 0)
    }
}
