#if os(Linux)
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Linux calls Swift cannot import directly: `prctl` is variadic, and the `_np` spawn
/// extensions are hidden behind `_GNU_SOURCE`. Looked up once with `dlsym`; the integer
/// arguments travel in registers exactly as for a non-variadic call on x86_64 and arm64 Linux.
enum LinuxCalls {
    static let PR_SET_CHILD_SUBREAPER: Int32 = 36
    static let PR_GET_CHILD_SUBREAPER: Int32 = 37
    /// glibc's value; not exported to Swift because it is a GNU extension.
    static let POSIX_SPAWN_SETSID: Int16 = 0x80

    private typealias PrctlFunction = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    typealias AddChdirFunction =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddClosefromFunction =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    private typealias Pipe2Function = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    private static let pipe2Function: Pipe2Function? = lookUp("pipe2")
    private static let prctlFunction: PrctlFunction? = lookUp("prctl")
    /// glibc 2.29+.
    static let addChdir: AddChdirFunction? = lookUp("posix_spawn_file_actions_addchdir_np")
    /// glibc 2.34+; without it we rely on every descriptor being close-on-exec.
    static let addClosefrom: AddClosefromFunction? = lookUp("posix_spawn_file_actions_addclosefrom_np")

    private static func lookUp<Function>(_ name: String) -> Function? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }

    /// `pipe2` creates both ends close-on-exec atomically (no window for a concurrent spawn).
    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        guard let pipe2Function else {
            errno = ENOSYS
            return -1
        }
        return pipe2Function(fds, flags)
    }

    static func prctl(_ option: Int32, _ argument: UInt) -> Int32 {
        guard let prctlFunction else {
            errno = ENOSYS
            return -1
        }
        return prctlFunction(option, argument, 0, 0, 0)
    }
}
#endif
