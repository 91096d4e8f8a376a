#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import YardCore

/// Runs processes directly on the host, with no isolation: what `yard serve` falls back to
/// when the machine cannot sandbox.
///
/// Each process is spawned as the leader of a new session (so its pid is its process-group
/// id and `signal(_:)` reaches the whole tree), with exactly the spec's environment and
/// working directory, stdin on /dev/null and stdout/stderr captured line by line.
/// When the leader exits, whatever is left of its process group is killed, as a container's
/// processes die with its init.
public struct PlainProcessLauncher: ProcessLauncher {
    /// PATH used to find `arguments[0]` when the spec's environment has none.
    public static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    public var isolation: String { "none: plain processes on loopback" }

    /// How long `wait()` keeps collecting output after the leader exited, for descendants
    /// that escaped the process group but still hold the pipes.
    public var outputGracePeriod: Duration
    /// Longer lines are cut into pieces of this many bytes.
    public var maxLineBytes: Int
    private let eventLoopGroup: any EventLoopGroup

    public init(
        outputGracePeriod: Duration = .seconds(2),
        maxLineBytes: Int = LineSplitter.defaultMaxLineBytes,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.outputGracePeriod = outputGracePeriod
        self.maxLineBytes = maxLineBytes
        self.eventLoopGroup = eventLoopGroup
    }

    /// Starts the process. `output` is called on an event-loop thread, in order per stream;
    /// keep it quick (hand lines off, do not block).
    public func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        guard let command = spec.arguments.first, !command.isEmpty else {
            throw YardError(.invalidConfig, "\(spec.label): the start command is empty; set a start command")
        }
        try Self.checkWorkingDirectory(spec.workingDirectory, label: spec.label)
        let executable = try Self.resolveExecutable(
            command,
            searchPath: spec.environment["PATH"] ?? Self.defaultSearchPath,
            workingDirectory: spec.workingDirectory,
            label: spec.label
        )

        let eventLoop = eventLoopGroup.next()
        let stdoutPipe = try Self.makePipe(label: spec.label)
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stderrPipe = try Self.makePipe(label: spec.label)
        } catch {
            close(stdoutPipe.read)
            close(stdoutPipe.write)
            throw error
        }

        // Readers are set up before spawning, so a failure here leaves no process to clean up.
        let stdoutChannel: any Channel
        let stderrChannel: any Channel
        do {
            stdoutChannel = try await Self.makeReader(
                fd: stdoutPipe.read, stream: .stdout, on: eventLoop, maxLineBytes: maxLineBytes, output: output)
        } catch {
            [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write].forEach { _ = close($0) }
            throw YardError(.internal, "\(spec.label): could not watch the process output", cause: error)
        }
        do {
            stderrChannel = try await Self.makeReader(
                fd: stderrPipe.read, stream: .stderr, on: eventLoop, maxLineBytes: maxLineBytes, output: output)
        } catch {
            [stdoutPipe.write, stderrPipe.read, stderrPipe.write].forEach { _ = close($0) }
            stdoutChannel.close(promise: nil)
            throw YardError(.internal, "\(spec.label): could not watch the process output", cause: error)
        }

        let spawnResult = Result {
            try Self.spawn(
                executable: executable,
                spec: spec,
                stdoutFD: stdoutPipe.write,
                stderrFD: stderrPipe.write
            )
        }
        // Only the child keeps the write ends open, so EOF means every holder has exited.
        close(stdoutPipe.write)
        close(stderrPipe.write)
        let pid: pid_t
        switch spawnResult {
        case .success(let spawned): pid = spawned
        case .failure(let error):
            stdoutChannel.close(promise: nil)
            stderrChannel.close(promise: nil)
            throw error
        }

        return PlainProcess(
            pid: pid,
            eventLoop: eventLoop,
            outputChannels: [stdoutChannel, stderrChannel],
            outputGracePeriod: outputGracePeriod
        )
    }

    // MARK: - Spawning

    private static func makePipe(label: String) throws -> (read: Int32, write: Int32) {
        // Close-on-exec, so processes spawned concurrently elsewhere never inherit our write
        // ends (which would delay EOF until they exit); dup2 into the child clears the flag.
        try CloseOnExecPipe.make(label: "\(label): output pipe")
    }

    private static func makeReader(
        fd: Int32,
        stream: LogLine.Stream,
        on eventLoop: any EventLoop,
        maxLineBytes: Int,
        output: @escaping OutputHandler
    ) async throws -> any Channel {
        try await NIOPipeBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        OutputLineHandler(stream: stream, maxLineBytes: maxLineBytes, output: output))
                }
            }
            .takingOwnershipOfDescriptor(input: fd)
            .get()
    }

    static func spawn(executable: String, spec: LaunchSpec, stdoutFD: Int32, stderrFD: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
        #if os(Linux)
        guard let addChdir = LinuxCalls.addChdir else {
            throw YardError(.unavailable, "\(spec.label): this C library cannot set a child's working directory (needs glibc 2.29 or newer)")
        }
        _ = addChdir(&actions, spec.workingDirectory)
        SpawnSetup.closeInheritedDescriptors(&actions)
        let newSessionFlag = LinuxCalls.POSIX_SPAWN_SETSID
        #else
        _ = posix_spawn_file_actions_addchdir_np(&actions, spec.workingDirectory)
        let newSessionFlag = Int16(POSIX_SPAWN_SETSID)
        #endif

        SpawnSetup.freshSignals(&attributes, flags: newSessionFlag)

        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        var pid: pid_t = 0
        // From the spawn thread, which outlives the child: a sandbox dies with the thread that
        // spawned it (`bwrap --die-with-parent`; see `SpawnThread`).
        let status = try SpawnThread.shared.run { posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
        guard status == 0 else {
            let reason = String(cString: strerror(status))
            throw YardError(
                .invalidConfig,
                "\(spec.label): could not start '\(spec.arguments[0])' in '\(spec.workingDirectory)': \(reason)")
        }
        return pid
    }

    // MARK: - Checks with clear messages

    private static func checkWorkingDirectory(_ path: String, label: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw YardError(
                .invalidConfig,
                "\(label): working directory '\(path)' does not exist; check the service's root directory")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw YardError(.invalidConfig, "\(label): working directory '\(path)' is not a directory")
        }
    }

    /// Resolves argv[0] like `execvp`: with a slash it is a path (relative to the working
    /// directory), without one it is looked up on `searchPath`.
    static func resolveExecutable(
        _ command: String,
        searchPath: String,
        workingDirectory: String,
        label: String
    ) throws -> String {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : workingDirectory + "/" + path
        }
        if command.contains("/") {
            let path = absolute(command)
            switch executableStatus(path) {
            case .executable: return path
            case .missing:
                throw YardError(.invalidConfig, "\(label): cannot start '\(command)': the file does not exist")
            case .notExecutable:
                throw YardError(
                    .invalidConfig,
                    "\(label): cannot start '\(command)': the file is not executable (chmod +x it, or run it through its interpreter)")
            }
        }
        var sawNonExecutable = false
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = absolute((directory.isEmpty ? "." : String(directory)) + "/" + command)
            switch executableStatus(candidate) {
            case .executable: return candidate
            case .notExecutable: sawNonExecutable = true
            case .missing: continue
            }
        }
        // The PATH value itself is not shown: variable values stay out of messages.
        throw YardError(
            .invalidConfig,
            sawNonExecutable
                ? "\(label): cannot start '\(command)': it was found on PATH but is not executable"
                : "\(label): cannot start '\(command)': no executable with that name on the service's PATH; install it in the build or use an absolute path"
        )
    }

    private enum ExecutableStatus { case executable, missing, notExecutable }

    private static func executableStatus(_ path: String) -> ExecutableStatus {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        guard info.st_mode & S_IFMT == S_IFREG else { return .notExecutable }
        return access(path, X_OK) == 0 ? .executable : .notExecutable
    }
}

/// A process started by `PlainProcessLauncher`.
final class PlainProcess: LaunchedProcess {
    let pid: Int32
    private let eventLoop: any EventLoop
    private let outputChannels: [any Channel]
    private let outputGracePeriod: Duration
    private let exitReason: EventLoopFuture<ExitReason>
    /// Guards signalling against reaping: once the leader is reaped its pid, and so the
    /// process-group id, may be reused, and a late `kill(-pgid)` would hit a stranger.
    private let leaderReaped = Mutex(false)

    init(pid: Int32, eventLoop: any EventLoop, outputChannels: [any Channel], outputGracePeriod: Duration) {
        self.pid = pid
        self.eventLoop = eventLoop
        self.outputChannels = outputChannels
        self.outputGracePeriod = outputGracePeriod
        let promise = eventLoop.makePromise(of: ExitReason.self)
        self.exitReason = promise.futureResult
        // A blocking waitid on a dedicated thread: there is no portable readiness event for
        // "this pid exited" that NIO can poll, SIGCHLD is process-global, and parking a
        // thread-pool thread for the process's lifetime would starve the pool.
        let thread = Thread { [self] in
            promise.succeed(waitForExit())
            OrphanReaper.reapSession(pid, timeout: .seconds(2))
        }
        thread.name = "yard-wait-\(pid)"
        thread.start()
    }

    func signal(_ signal: Int32) {
        leaderReaped.withLock { reaped in
            if !reaped { _ = kill(-pid, signal) }
        }
    }

    func wait() async -> ExitReason {
        let reason: ExitReason
        do {
            reason = try await exitReason.get()
        } catch {
            // The promise is only ever succeeded; this is unreachable.
            reason = .signaled(signal: SIGKILL)
        }
        let channels = outputChannels
        let cutOff = eventLoop.scheduleTask(in: TimeAmount(outputGracePeriod)) {
            for channel in channels { channel.close(promise: nil) }
        }
        let allClosed = EventLoopFuture.andAllComplete(channels.map(\.closeFuture), on: eventLoop)
        try? await allClosed.get()
        cutOff.cancel()
        return reason
    }

    private func waitForExit() -> ExitReason {
        // Wait without reaping, so the zombie leader keeps its process-group id reserved
        // while we kill the rest of the tree.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
        return leaderReaped.withLock { reaped in
            _ = kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
            reaped = true
            return ExitReason(waitStatus: status)
        }
    }
}

extension ExitReason {
    /// Decodes a `waitpid` status (WIFEXITED / WTERMSIG are macros Swift cannot import).
    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited(code: (status >> 8) & 0xff) : .signaled(signal: signal)
    }
}

/// Turns a pipe's bytes into lines for an `OutputHandler`; flushes a partial last line at EOF.
private final class OutputLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let stream: LogLine.Stream
    private let output: OutputHandler
    private var splitter: LineSplitter

    init(stream: LogLine.Stream, maxLineBytes: Int, output: @escaping OutputHandler) {
        self.stream = stream
        self.output = output
        self.splitter = LineSplitter(maxLineBytes: maxLineBytes)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for line in splitter.append(buffer.readableBytesView) { output(stream, line) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let last = splitter.finish() { output(stream, last) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
