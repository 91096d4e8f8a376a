import YardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pipe whose both ends are close-on-exec from the moment they exist, so no process
/// spawned concurrently anywhere in the server inherits them: an inherited write end would
/// keep the reader from ever seeing end-of-file until that (possibly long-lived) process
/// exits. A child that should have an end gets it through `dup2`, which clears the flag.
public enum CloseOnExecPipe {
    public static func make(label: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        #if os(Linux)
            let created = LinuxCalls.pipe2(&fds, O_CLOEXEC)
        #else
            let created = pipe(&fds) == 0 && fds.allSatisfy { fcntl($0, F_SETFD, FD_CLOEXEC) == 0 } ? 0 : -1
        #endif
        guard created == 0 else {
            throw YardError(.internal, "\(label): could not create a pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    /// Opens a file close-on-exec (`O_CLOEXEC`), for a child's stdin or stderr given through `dup2`.
    public static func openFile(_ path: String, flags: Int32, label: String) throws -> Int32 {
        let descriptor = open(path, flags | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw YardError(.internal, "\(label): could not open \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }
}

/// The descriptors this process has open, from `/proc/self/fd` (Linux).
enum OpenDescriptors {
    static func list() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { result.append(fd) }
        }
        return result
    }
}
