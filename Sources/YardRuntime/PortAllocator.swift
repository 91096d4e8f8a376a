#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import YardCore

/// Finds TCP ports nobody listens on, for replicas' `PORT`.
public enum PortAllocator {
    /// Binds port 0 on `host` (an IPv4 literal), reads the port the kernel chose, and closes
    /// the socket. Another process could take the port before it is used; callers that
    /// bind it soon after are fine in practice.
    public static func freePort(host: String = "127.0.0.1") throws -> Int {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw YardError(.invalidInput, "cannot pick a free port on '\(host)': not an IPv4 address")
        }
        #if canImport(Glibc) || canImport(Musl)
        let socketType = Int32(SOCK_STREAM.rawValue)
        #else
        let socketType = SOCK_STREAM
        #endif
        let fd = socket(AF_INET, socketType, 0)
        guard fd >= 0 else { throw failure("socket", host: host) }
        defer { close(fd) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw failure("bind", host: host) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw failure("getsockname", host: host) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func failure(_ call: String, host: String) -> YardError {
        YardError(.unavailable, "cannot pick a free port on \(host): \(call) failed: \(String(cString: strerror(errno)))")
    }
}
