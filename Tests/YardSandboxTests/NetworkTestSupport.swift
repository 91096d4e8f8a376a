import Foundation
import Logging
import Synchronization
import Testing
import YardCore
import YardRuntime

@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Everything the fabric tests create starts with this, never with a server's "yard".
let testPrefix = "yt"

enum NetworkTestHost {
    /// Fails (never skips) when the machine cannot run the real-network tests, saying what to install.
    static func requireTools() throws -> (ip: String, python: String) {
        let (available, reason) = NetworkFabric.isAvailable()
        try #require(available, Comment(rawValue: "network tests need root and iproute2: \(reason)"))
        let (egress, egressReason) = NetworkFabric.isEgressAvailable()
        try #require(egress, Comment(rawValue: egressReason))
        let ip = try #require(SystemTool.locate("ip"), "iproute2 is missing: apt-get install -y iproute2")
        let python = try #require(SystemTool.locate("python3"), "python3 is missing: apt-get install -y python3")
        return (ip, python)
    }

    /// Runs `body` with a fresh "yt" fabric and removes everything afterwards, also when it throws.
    static func withFabric(_ body: (NetworkFabric, Tools) async throws -> Void) async throws {
        let (ip, python) = try requireTools()
        await NetworkFabric.removeLeftovers(prefix: testPrefix)
        let forwardingBefore = try String(contentsOfFile: forwardingPath, encoding: .utf8)
        let fabric = NetworkFabric(configuration: .init(namePrefix: testPrefix), logger: Logger(label: "yard.network.test"))
        let tools = Tools(ip: ip, python: python)
        var failure: (any Error)?
        do {
            try await body(fabric, tools)
        } catch {
            failure = error
        }
        tools.stopServers()
        await fabric.removeAll()
        await NetworkFabric.removeLeftovers(prefix: testPrefix)
        let forwardingAfter = try String(contentsOfFile: forwardingPath, encoding: .utf8)
        // Another suite's server may have switched forwarding on meanwhile for its own egress: only
        // complain (and restore) when nothing masquerades any more.
        let stillNeeded = await ForwardingFirewall(names: NetworkNames(prefix: testPrefix))?.anyMasqueradeInUse() ?? false
        if forwardingAfter != forwardingBefore, !stillNeeded {
            Issue.record("IPv4 forwarding was \(forwardingBefore) before the test and \(forwardingAfter) after; restoring it")
            try forwardingBefore.write(toFile: forwardingPath, atomically: false, encoding: .utf8)
        }
        let left = try await kernelObjects(ip: ip)
        #expect(left.namespaces.isEmpty && left.links.isEmpty, "the test left \(left)")
        if let failure { throw failure }
    }

    static let forwardingPath = "/proc/sys/net/ipv4/ip_forward"

    /// Subnet indexes no interface on this host uses, from the top of the range (a server allocates from the bottom).
    static func freeSubnets(_ count: Int) async throws -> [Subnet] {
        let used = try await NetworkFabric.subnetIndexesInUse()
        let free = Subnet.validIndexes.reversed().filter { !used.contains($0) }.prefix(count).map { Subnet(index: $0) }
        try #require(free.count == count, "not enough free subnets under 10.213.0.0/16")
        return free
    }

    /// What the kernel holds with the test prefix: namespaces, interfaces.
    static func kernelObjects(ip: String) async throws -> (namespaces: [String], links: [String]) {
        let netns = try await SystemCommand(ip, ["netns", "list"]).run().standardOutput
        let namespaces = netns.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(testPrefix + "-") }
        let links = try await NetworkFabric.interfaceNames(ip: ip).filter { NetworkNames(prefix: testPrefix).isBridgeOrVeth($0) }
        return (namespaces, links)
    }
}

/// Runs commands on the host and inside namespaces, and owns the servers it starts.
final class Tools: Sendable {
    let ip: String
    let python: String
    private let servers = Mutex<[ChildProcess]>([])

    init(ip: String, python: String) {
        self.ip = ip
        self.python = python
    }

    static let connectScript = """
        import socket, sys
        try:
            socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
        except Exception as error:
            print(error)
            sys.exit(1)
        """

    static let serverScript = """
        import socket, sys
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", int(sys.argv[1])))
        server.listen(16)
        while True:
            connection, _ = server.accept()
            connection.close()
        """

    /// Tries a TCP connection from inside `namespace` (or from the host when nil).
    func connect(from namespace: String?, to address: String, port: Int) async throws -> (connected: Bool, message: String) {
        let arguments = ["-c", Self.connectScript, address, String(port)]
        let command = namespace.map { SystemCommand(ip, ["netns", "exec", $0, python] + arguments) } ?? SystemCommand(python, arguments)
        let result = try await command.result()
        return (result.succeeded, (result.standardOutput + result.standardError).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Starts a TCP server on `port` inside `namespace` and waits until the host can connect to it at `address`.
    func startServer(in namespace: String, address: String, port: Int) async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", namespace, python, "-c", Self.serverScript, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.withLock { $0.append(process) }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await connect(from: nil, to: address, port: port).connected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the server in \(namespace) never accepted connections on \(address):\(port)")
    }

    func stopServers() {
        for process in servers.withLock({ list in
            defer { list.removeAll() }; return list
        }) where process.isRunning {
            // SIGKILL: children of the test runner inherit its blocked-signal mask, SIGTERM included.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func routes(in namespace: String) async throws -> [String] {
        try await SystemCommand(ip, ["-n", namespace, "route", "show"]).run().standardOutput
            .split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    func iptablesRules(table: String, chain: String) async throws -> [String] {
        let iptables = try #require(SystemTool.locate("iptables"), "iptables is missing: apt-get install -y iptables")
        let result = try await SystemCommand(iptables, ["-w", "-t", table, "-S", chain]).result()
        return result.succeeded ? result.standardOutput.split(separator: "\n").map(String.init) : []
    }
}

/// A TCP listener on the host's 127.0.0.1, as a database bound to loopback would be.
final class LoopbackListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0, "socket() failed")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw YardError(.internal, "could not listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
