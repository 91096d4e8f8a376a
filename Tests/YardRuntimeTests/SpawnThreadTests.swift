import Foundation
import Testing
import YardCore

@testable import YardRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A child that dies with its parent (`bwrap --die-with-parent`, here `setpriv --pdeathsig`)
/// gets the signal when the *thread* that spawned it ends. Swift's worker threads end after a
/// few idle seconds, which SIGKILLed sandboxes (a `python3 -m venv` build step 8 s in) at
/// random. Each test spawns from a thread that then ends, and checks the child lives on.
@Suite("Children outlive the thread that asked for them")
struct SpawnThreadTests {
    /// Runs `body` on a new POSIX thread and returns once that thread has ended (joined).
    private func onThreadThatEnds(_ body: @escaping @Sendable () -> Void) throws {
        final class Context: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Context(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            context.body()
            return nil
        }, context)
        try #require(created == 0, "pthread_create: \(created)")
        #expect(pthread_join(thread, nil) == 0)
    }

    /// The pdeathsig helper: `setpriv` (util-linux) sets the signal, then execs the command.
    private static let dyingWithParent = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", "/bin/sleep", "30"]

    private static func requireSetpriv() throws {
        try #require(access(dyingWithParent[0], X_OK) == 0, "setpriv is missing: apt-get install -y util-linux")
    }

    /// Waits (at most 5 s) until `pid` runs `sleep`: `setpriv` has set the signal by then. A
    /// thread that ended before that would not count: the signal is only sent to children
    /// that have it set when their parent thread ends.
    private static func waitForSleep(_ pid: pid_t) {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            if command.hasPrefix("sleep") { return }
            usleep(10_000)
        }
    }

    /// Gives a signal time to arrive (it is sent as the thread exits, before the join returns;
    /// delivery is asynchronous), then says whether `pid` still runs, unreaped and not a zombie.
    private static func stillRunning(_ pid: pid_t) -> Bool {
        usleep(300_000)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    @Test func aChildProcessOutlivesTheThreadThatRanIt() throws {
        try Self.requireSetpriv()
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: Self.dyingWithParent[0])
        process.arguments = Array(Self.dyingWithParent.dropFirst())
        process.standardInput = nil
        process.standardOutput = nil
        process.standardError = nil
        let failure = Box<String?>(nil)
        try onThreadThatEnds {
            do {
                try process.run()
                Self.waitForSleep(process.processIdentifier)
            } catch { failure.value = "\(error)" }
        }
        try #require(failure.value == nil, "\(failure.value ?? "")")
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        #expect(Self.stillRunning(process.processIdentifier), "the child died with the thread that started it")
    }

    @Test func aLaunchedProcessOutlivesTheThreadThatSpawnedIt() throws {
        try Self.requireSetpriv()
        let spec = LaunchSpec(
            arguments: Self.dyingWithParent, environment: TestEnvironment.minimal, workingDirectory: "/", label: "test")
        let spawned = Box<Result<pid_t, any Error>?>(nil)
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        try onThreadThatEnds {
            spawned.value = Result {
                let pid = try PlainProcessLauncher.spawn(executable: spec.arguments[0], spec: spec, stdoutFD: devNull, stderrFD: devNull)
                Self.waitForSleep(pid)
                return pid
            }
        }
        let pid = try #require(try spawned.value?.get())
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        #expect(Self.stillRunning(pid), "the sandbox's first process died with the thread that spawned it")
    }
}

/// A value a test's thread writes and the test reads after joining it.
private final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
