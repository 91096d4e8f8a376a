import Foundation
import Testing
import YardCore

@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// The wall between the bridges and the host (`<P>-INPUT`) and the build network. In the
/// fabric suite, so they run one at a time with its other tests (they share the "yt" prefix).
extension NetworkFabricTests {
    @Test func nothingFromABridgeReachesAHostServiceOnAnyAddress() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_wall", subnet: subnet)
            let plain = try await fabric.attach(replicaID: "rep_wall-0", environmentID: "env_wall")
            let withEgress = try await fabric.attach(replicaID: "rep_wall-1", environmentID: "env_wall", egress: true)
            let listener = try AnyAddressListener()
            defer { listener.close() }
            #expect(try await tools.connect(from: nil, to: subnet.gateway, port: listener.port).connected, "the host's own check")
            _ = listener.accepted()
            for replica in [plain, withEgress] {
                let attempt = try await tools.connect(from: replica.namespace, to: subnet.gateway, port: listener.port)
                #expect(!attempt.connected, "\(replica.replicaID) reached a host service on its gateway: \(attempt.message)")
            }
            #expect(listener.accepted() == 0)
            // Replies to the host's own connections still pass.
            try await tools.startServer(in: plain.namespace, address: plain.address, port: 8080)

            let names = NetworkNames(prefix: testPrefix)
            let firewall = try #require(ForwardingFirewall(names: names))
            let rules = try await tools.iptablesRules(table: "filter", chain: firewall.inputChain)
            #expect(rules.contains("-A \(firewall.inputChain) -i \(names.bridgePattern) -j REJECT --reject-with icmp-admin-prohibited"), "\(rules)")
            await fabric.removeAll()
            #expect(try await tools.iptablesRules(table: "filter", chain: firewall.inputChain).isEmpty)
            #expect(try await !tools.iptablesRules(table: "filter", chain: "INPUT").contains { $0.contains(firewall.inputChain) })
        }
    }

    @Test func buildsGetEgressButNotEachOtherNorEnvironmentsNorTheHost() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let first = try await fabric.attachBuild(buildID: "build-dep_1", base: 213)
            let second = try await fabric.attachBuild(buildID: "build-dep_2", base: 213)
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_built", subnet: subnet)
            let replica = try await fabric.attach(replicaID: "rep_built-0", environmentID: "env_built")
            #expect(first.address.hasPrefix("10.213.254."))
            #expect(try await tools.routes(in: first.namespace).contains("default via 10.213.254.1 dev eth0"), "egress")

            try await tools.startServer(in: second.namespace, address: second.address, port: 8080)
            try await tools.startServer(in: replica.namespace, address: replica.address, port: 8080)
            let listener = try AnyAddressListener()
            defer { listener.close() }
            for (target, port) in [(second.address, 8080), (replica.address, 8080), ("10.213.254.1", listener.port), ("127.0.0.1", listener.port)] {
                let attempt = try await tools.connect(from: first.namespace, to: target, port: port)
                #expect(!attempt.connected, "a build reached \(target):\(port): \(attempt.message)")
            }
            #expect(listener.accepted() == 0)
            await fabric.detach(replicaID: "build-dep_1")
            #expect(try await !NetworkTestHost.kernelObjects(ip: tools.ip).namespaces.contains(first.namespace))
        }
    }
}

/// A TCP listener on 0.0.0.0, as a host service that forgot to bind to loopback would be.
final class AnyAddressListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0, "socket() failed")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            _ = Glibc.close(fd)
            throw YardError(.internal, "could not listen on 0.0.0.0")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// Connections waiting or accepted since the last call.
    func accepted() -> Int {
        var count = 0
        while case let connection = accept(descriptor, nil, nil), connection >= 0 {
            _ = Glibc.close(connection)
            count += 1
        }
        return count
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
