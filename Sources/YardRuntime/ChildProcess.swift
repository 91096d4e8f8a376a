#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import YardCore

/// Starts a program as a child, with the members of Foundation's `Process` that Switchyard
/// uses, and none of its Linux faults.
///
/// Foundation's `Process.run()` on Linux (Swift 6.3.1) lists `/proc/self/fd` to close every
/// inherited descriptor and copies each entry's name as a fixed 256-byte field: once the
/// process holds about 1,350 descriptors, the last entry sits at the end of the C library's
/// 32 KB directory buffer and the copy reads past it. That SIGSEGV'd the whole test process
/// in CI, and would take `yard serve` down on the first deploy under ~700 concurrent
/// connections. Its `Process` objects also never go away (a run-loop source keeps them),
/// nor do the file handles they hold, and it learns of an exit only when every descendant
/// has closed a socket it shares with them.
///
/// Here the child is spawned with `posix_spawn`: its stdio duplicated in, every other
/// descriptor closed by the C library (`closefrom`), default signal dispositions and an
/// empty mask, in a process group of its own (as Foundation does: `kill(-pid, …)` reaches
/// its tree). A thread per child waits for it with `waitid` and reports the exit as soon as
/// the child itself exits.
public final class ChildProcess: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's whole environment; nil inherits ours.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A `FileHandle` or a `Pipe`; nil is /dev/null; the default is ours.
    public var standardInput: Any? = FileHandle.standardInput
    public var standardOutput: Any? = FileHandle.standardOutput
    public var standardError: Any? = FileHandle.standardError
    /// Called once, on the waiting thread, after the child exited; read when `run()` is called.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private let condition = NSCondition()
    private var pid: Int32 = 0
    /// The raw `waitpid` status, once reaped.
    private var waitStatus: Int32?

    public init() {}

    public var processIdentifier: Int32 { condition.withLock { pid } }

    public var isRunning: Bool { condition.withLock { pid > 0 && waitStatus == nil } }

    /// The exit code, or the number of the signal that killed it (as Foundation reports it).
    public var terminationStatus: Int32 {
        let status = finishedStatus()
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    public var terminationReason: Process.TerminationReason {
        finishedStatus() & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    public func waitUntilExit() {
        condition.lock()
        while waitStatus == nil { condition.wait() }
        condition.unlock()
    }

    /// SIGTERM, while the child has not been reaped (its pid cannot have been reused yet).
    public func terminate() { send(SIGTERM) }

    public func interrupt() { send(SIGINT) }

    private func send(_ signal: Int32) {
        condition.withLock {
            if pid > 0, waitStatus == nil { _ = kill(pid, signal) }
        }
    }

    private func finishedStatus() -> Int32 {
        condition.withLock {
            precondition(waitStatus != nil, "the child has not exited yet")
            return waitStatus ?? 0
        }
    }

    public func run() throws {
        guard let executable = executableURL?.path, !executable.isEmpty else {
            throw YardError(.internal, "no program to start was given")
        }
        precondition(processIdentifier == 0, "a ChildProcess runs once")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        for (target, value) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            let source = Self.descriptor(of: value, childReads: target == 0)
            if source < 0 {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            } else if source != target {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            }
        }
        SpawnSetup.closeInheritedDescriptors(&actions)
        #if os(Linux)
        if let directory = currentDirectoryURL?.path {
            guard let addChdir = LinuxCalls.addChdir else {
                throw YardError(.unavailable, "this C library cannot set a child's working directory (needs glibc 2.29 or newer)")
            }
            _ = addChdir(&actions, directory)
        }
        #else
        if let directory = currentDirectoryURL?.path { _ = posix_spawn_file_actions_addchdir_np(&actions, directory) }
        #endif

        posix_spawnattr_setpgroup(&attributes, 0)
        SpawnSetup.freshSignals(&attributes, flags: Int16(POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let variables = environment ?? ProcessInfo.processInfo.environment
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        var child: pid_t = 0
        // From the spawn thread, which outlives the child (see `SpawnThread`).
        let status = try SpawnThread.shared.run { posix_spawn(&child, executable, &actions, &attributes, argv, envp) }
        guard status == 0 else {
            throw YardError(.unavailable, "could not start \(executable): \(String(cString: strerror(status)))")
        }
        closeChildEnds()
        let started = child
        condition.withLock { pid = started }

        let handler = terminationHandler
        let thread = Thread { [self] in
            reap(started)
            handler?(self)
        }
        thread.name = "yard-child-\(started)"
        thread.start()
    }

    /// The descriptor the child gets for one of its stdio streams; -1 is /dev/null.
    private static func descriptor(of value: Any?, childReads: Bool) -> Int32 {
        switch value {
        case let pipe as Pipe: return childReads ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor
        case let handle as FileHandle: return handle.fileDescriptor
        default: return -1
        }
    }

    /// As Foundation does: the child's ends of pipes are closed here once it has them, so a
    /// reader sees end-of-file when the child (and whatever it passed them to) is done.
    private func closeChildEnds() {
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        for case let pipe as Pipe in [standardOutput, standardError] { try? pipe.fileHandleForWriting.close() }
    }

    /// Waits without reaping first, then reaps under the lock: `send` never signals a pid that
    /// was already released for reuse.
    private func reap(_ child: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
        condition.withLock {
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(child, &status, 0) } while result == -1 && errno == EINTR
            // Reaped by someone else (ECHILD): its status is lost; report a failure.
            waitStatus = result == child ? status : 255 << 8
            condition.broadcast()
        }
    }
}

/// What every child we spawn gets, whoever spawns it.
enum SpawnSetup {
    /// Descriptors opened without close-on-exec by other code (a library's pipe, a CGI's
    /// output) stay out: a long-lived child holding a pipe's write end would keep its reader
    /// from ever seeing end-of-file. glibc 2.34+ closes them all in the child; older C
    /// libraries get one close per descriptor open now. Call after the stdio `dup2`s.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        #if os(Linux)
        if let addClosefrom = LinuxCalls.addClosefrom {
            _ = addClosefrom(&actions, 3)
            return
        }
        #endif
        for fd in OpenDescriptors.list() where fd >= 3 { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    /// Our own process ignores or blocks some signals (SIGPIPE for sockets); the child starts
    /// with default dispositions and an empty mask, like a fresh process; `flags` are added.
    static func freshSignals(_ attributes: inout posix_spawnattr_t, flags: Int16) {
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, flags | Int16(POSIX_SPAWN_SETSIGDEF) | Int16(POSIX_SPAWN_SETSIGMASK))
    }
}
