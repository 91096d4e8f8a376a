import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `yard shell`'s command in a session of its own. When the operator is at a terminal,
/// the command gets a new pseudo-terminal as its controlling terminal and this process copies
/// bytes between the two, so nothing in the box ever holds the operator's terminal (no
/// TIOCSTI into it, no reading it). Without a terminal, the command gets our descriptors.
enum ShellTerminal {
    /// `_IOW('T', 0x31, int)` and `_IOR('T', 0x30, unsigned int)`: function-like macros Swift
    /// does not import.
    static let TIOCSPTLCK: UInt = 0x4004_5431
    static let TIOCGPTN: UInt = 0x8004_5430

    /// Runs `arguments` (an absolute path first) and returns its exit status.
    static func run(_ arguments: [String], environment: [String: String]) throws -> Int32 {
        let interactive = isatty(0) == 1 || isatty(1) == 1 || isatty(2) == 1
        guard interactive else {
            let pid = try spawn(["/usr/bin/setsid"] + arguments, environment: environment, terminal: nil)
            return waitForExit(pid)
        }
        // posix_openpt and friends are not imported into Swift: /dev/ptmx and its ioctls.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, Self.TIOCSPTLCK, &unlock) == 0, ioctl(master, Self.TIOCGPTN, &number) == 0 else {
            throw YardError(.unavailable, "cannot open a pseudo-terminal for the shell: \(String(cString: strerror(errno)))")
        }
        defer { close(master) }
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else {
            throw YardError(.unavailable, "cannot open the shell's pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        let operatorTerminal: Int32 = isatty(0) == 1 ? 0 : (isatty(1) == 1 ? 1 : 2)
        var saved = termios()
        let haveSettings = tcgetattr(operatorTerminal, &saved) == 0
        if haveSettings { _ = tcsetattr(slave, TCSANOW, &saved) }
        var size = winsize()
        if ioctl(operatorTerminal, UInt(TIOCGWINSZ), &size) == 0 { _ = ioctl(slave, UInt(TIOCSWINSZ), &size) }

        let pid: pid_t
        do {
            pid = try spawn(["/usr/bin/setsid", "--ctty"] + arguments, environment: environment, terminal: slave)
        } catch {
            close(slave)
            throw error
        }
        close(slave)
        // The operator's terminal goes raw while the shell's terminal does the line editing.
        if haveSettings, isatty(0) == 1 {
            var raw = saved
            cfmakeraw(&raw)
            _ = tcsetattr(0, TCSANOW, &raw)
        }
        defer { if haveSettings, isatty(0) == 1 { _ = tcsetattr(0, TCSAFLUSH, &saved) } }
        return relay(master: master, child: pid, inputIsTerminal: isatty(0) == 1)
    }

    /// Copies stdin → master and master → stdout until the child has exited and its output
    /// is drained. A non-terminal stdin's end becomes an end-of-file character for the shell.
    private static func relay(master: Int32, child: pid_t, inputIsTerminal: Bool) -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var inputOpen = true
        var exitStatus: Int32?
        while true {
            var descriptors = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
            if inputOpen { descriptors.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), exitStatus == nil ? 100 : 50)
            if ready < 0, errno != EINTR { break }
            if exitStatus == nil {
                var status: Int32 = 0
                if waitpid(child, &status, WNOHANG) == child { exitStatus = decode(status) }
            }
            if ready <= 0 {
                if exitStatus != nil { break }  // exited, nothing more to show
                continue
            }
            if descriptors[0].revents != 0 {
                let count = read(master, &buffer, buffer.count)
                if count <= 0 {
                    if exitStatus != nil { break }
                } else {
                    writeAll(1, buffer, count)
                }
            }
            if inputOpen, descriptors.count > 1, descriptors[1].revents != 0 {
                let count = read(0, &buffer, buffer.count)
                if count <= 0 {
                    inputOpen = false
                    if !inputIsTerminal { writeAll(master, [4], 1) }  // ^D: end of input
                } else {
                    writeAll(master, buffer, count)
                }
            }
        }
        return exitStatus ?? waitForExit(child)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], _ count: Int) {
        var offset = 0
        while offset < count {
            let written = bytes.withUnsafeBufferPointer { write(descriptor, $0.baseAddress! + offset, count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    private static func spawn(_ arguments: [String], environment: [String: String], terminal: Int32?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let terminal {
            for target: Int32 in 0...2 { posix_spawn_file_actions_adddup2(&actions, terminal, target) }
        }
        // Only 0, 1 and 2 go in: nothing else of this process reaches the box.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init) ?? []
        for descriptor in open where descriptor > 2 && descriptor != terminal {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        // This process ignores SIGPIPE; the shell starts with default signals and no mask.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF) | Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw YardError(.unavailable, "cannot run \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return pid
    }

    private static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return decode(status)
    }

    /// The exit code, or 128 + the signal, as shells report it.
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
