#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A connected IPv4 TCP socket of this process (the router under test runs in it), with the
/// options the router sets: `TCP_NODELAY` (requests and responses are sent whole, and Nagle
/// would hold the last segment of each) and `SO_DEBUG`, which nothing should set.
struct OpenTCPSocket {
    var localPort: Int
    var peerPort: Int
    var noDelay: Bool
    var debug: Bool

    /// Every connected IPv4 socket in `/proc/self/fd`; a descriptor closed meanwhile is skipped.
    static func all() -> [OpenTCPSocket] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.compactMap(Self.init(descriptor:))
    }

    private init?(descriptor: Int32) {
        guard let local = Self.port(descriptor, getsockname), let peer = Self.port(descriptor, getpeername),
            let noDelay = Self.option(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY),
            let debug = Self.option(descriptor, SOL_SOCKET, SO_DEBUG)
        else { return nil }
        self.localPort = local
        self.peerPort = peer
        self.noDelay = noDelay
        self.debug = debug
    }

    private static func port(
        _ descriptor: Int32, _ name: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> Int? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { name(descriptor, $0, &length) }
        }
        guard result == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func option(_ descriptor: Int32, _ level: Int32, _ name: Int32) -> Bool? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, level, name, &value, &length) == 0 else { return nil }
        return value != 0
    }
}
