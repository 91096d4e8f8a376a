import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardSandbox

/// Real `ip`, real namespaces, real iptables, as root. Serialized: they share the "yt" prefix
/// and each one removes all of its kernel objects at the end.
@Suite(.serialized) struct NetworkFabricTests {
    @Test func replicasOfOneEnvironmentReachEachOtherAndTheHostReachesBoth() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            let network = try await fabric.ensureEnvironment(environmentID: "env_same", subnet: subnet)
            #expect(network.bridge.count <= 15 && network.bridge.hasPrefix(testPrefix))
            let first = try await fabric.attach(replicaID: "rep_same-0", environmentID: "env_same")
            let second = try await fabric.attach(replicaID: "rep_same-1", environmentID: "env_same")
            #expect(first.address == subnet.address(host: 2))
            #expect(second.address == subnet.address(host: 3))
            #expect(first.namespace == "yt-rep_same-0")
            #expect(first.hostVeth.count <= 15)

            // startServer waits until the host connects: the host reaches both replicas.
            try await tools.startServer(in: first.namespace, address: first.address, port: 8080)
            try await tools.startServer(in: second.namespace, address: second.address, port: 8080)
            let forward = try await tools.connect(from: second.namespace, to: first.address, port: 8080)
            #expect(forward.connected, "second → first: \(forward.message)")
            let back = try await tools.connect(from: first.namespace, to: second.address, port: 8080)
            #expect(back.connected, "first → second: \(back.message)")
            #expect(try await tools.connect(from: nil, to: first.address, port: 8080).connected)
            #expect(try await tools.connect(from: nil, to: second.address, port: 8080).connected)
        }
    }

    @Test func aReplicaOfAnotherEnvironmentCannotConnect() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnets = try await NetworkTestHost.freeSubnets(2)
            _ = try await fabric.ensureEnvironment(environmentID: "env_a", subnet: subnets[0])
            _ = try await fabric.ensureEnvironment(environmentID: "env_b", subnet: subnets[1])
            let target = try await fabric.attach(replicaID: "rep_a-0", environmentID: "env_a")
            let stranger = try await fabric.attach(replicaID: "rep_b-0", environmentID: "env_b")
            // With egress the stranger has a default route and the host forwards: only the firewall stands between.
            let strangerWithEgress = try await fabric.attach(replicaID: "rep_b-1", environmentID: "env_b", egress: true)
            try await tools.startServer(in: target.namespace, address: target.address, port: 8080)

            for attacker in [stranger, strangerWithEgress] {
                let started = ContinuousClock.now
                let attempt = try await tools.connect(from: attacker.namespace, to: target.address, port: 8080)
                let elapsed = ContinuousClock.now - started
                #expect(!attempt.connected, "\(attacker.replicaID) reached another environment's replica")
                #expect(elapsed < .seconds(3), "\(attacker.replicaID) took \(elapsed) to fail: \(attempt.message)")
                // Nor the other environment's gateway (the host side of its bridge) as a way in.
                #expect(!(try await tools.connect(from: attacker.namespace, to: subnets[0].gateway, port: 8080)).connected)
            }
            // And the other way round.
            try await tools.startServer(in: strangerWithEgress.namespace, address: strangerWithEgress.address, port: 8081)
            #expect(!(try await tools.connect(from: target.namespace, to: strangerWithEgress.address, port: 8081)).connected)
        }
    }

    @Test func aReplicaCannotReachHostLoopbackServices() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_lo", subnet: subnet)
            let plain = try await fabric.attach(replicaID: "rep_lo-0", environmentID: "env_lo")
            let withEgress = try await fabric.attach(replicaID: "rep_lo-1", environmentID: "env_lo", egress: true)
            let listener = try LoopbackListener()
            #expect(try await tools.connect(from: nil, to: "127.0.0.1", port: listener.port).connected, "the host's own check")

            for replica in [plain, withEgress] {
                for address in ["127.0.0.1", subnet.gateway] {
                    let attempt = try await tools.connect(from: replica.namespace, to: address, port: listener.port)
                    #expect(!attempt.connected, "\(replica.replicaID) reached the host's loopback service via \(address)")
                }
            }
            withExtendedLifetime(listener) {}
        }
    }

    @Test func noDefaultRouteWithoutEgress() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_route", subnet: subnet)
            let replica = try await fabric.attach(replicaID: "rep_route-0", environmentID: "env_route")
            let routes = try await tools.routes(in: replica.namespace)
            #expect(routes == ["\(subnet.cidr) dev eth0 proto kernel scope link src \(replica.address)"])
            let lookup = try await SystemCommand(tools.ip, ["-n", replica.namespace, "route", "get", "192.0.2.1"]).result()
            #expect(!lookup.succeeded && lookup.standardError.contains("unreachable"))
            let links = try await SystemCommand(tools.ip, ["-n", replica.namespace, "-o", "link", "show", "up"]).run().standardOutput
            #expect(links.contains(" lo:") && links.contains(" eth0@"))
        }
    }

    @Test func egressInstallsDefaultRouteAndMasqueradeAndRemovesThem() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let forwardingBefore = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            let network = try await fabric.ensureEnvironment(environmentID: "env_egress", subnet: subnet)
            let replica = try await fabric.attach(replicaID: "rep_egress-0", environmentID: "env_egress", egress: true)
            let names = NetworkNames(prefix: testPrefix)

            #expect(try await tools.routes(in: replica.namespace).contains("default via \(subnet.gateway) dev eth0"))
            let nat = try await tools.iptablesRules(table: "nat", chain: names.masqueradeChain)
            #expect(nat.contains("-A \(names.masqueradeChain) -s \(subnet.cidr) ! -o \(network.bridge) -j MASQUERADE"), "\(nat)")
            let forward = try await tools.iptablesRules(table: "filter", chain: names.forwardChain)
            #expect(forward.contains { $0.contains("-s \(replica.address)/32") && $0.contains("-j ACCEPT") }, "\(forward)")
            #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8) == "1\n")

            await fabric.detach(replicaID: replica.replicaID)
            #expect(!(try await tools.iptablesRules(table: "nat", chain: names.masqueradeChain)).contains { $0.contains("MASQUERADE") })
            #expect(!(try await tools.iptablesRules(table: "filter", chain: names.forwardChain)).contains { $0.contains(replica.address) })
            let othersMasquerade = await ForwardingFirewall(names: names)?.anyMasqueradeInUse() ?? false
            if forwardingBefore == "0\n", !othersMasquerade {
                #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8) == "0\n")
            }

            await fabric.removeAll()
            #expect(try await tools.iptablesRules(table: "nat", chain: names.masqueradeChain).isEmpty)
            #expect(try await tools.iptablesRules(table: "filter", chain: names.forwardChain).isEmpty)
        }
    }

    @Test func detachRemovesTheNamespaceAndVethAndFreesTheAddress() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_detach", subnet: subnet)
            let first = try await fabric.attach(replicaID: "rep_detach-0", environmentID: "env_detach")
            let second = try await fabric.attach(replicaID: "rep_detach-1", environmentID: "env_detach")
            var objects = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(Set(objects.namespaces) == [first.namespace, second.namespace])
            #expect(objects.links.contains(first.hostVeth))

            await fabric.detach(replicaID: first.replicaID)
            objects = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(objects.namespaces == [second.namespace])
            #expect(!objects.links.contains(first.hostVeth))
            #expect(objects.links.contains(second.hostVeth))

            let third = try await fabric.attach(replicaID: "rep_detach-2", environmentID: "env_detach")
            #expect(third.address == first.address)
            await fabric.detach(replicaID: "rep_unknown")  // ignored
        }
    }

    @Test func removeEnvironmentRemovesItsReplicasAndBridgeOnly() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnets = try await NetworkTestHost.freeSubnets(2)
            let gone = try await fabric.ensureEnvironment(environmentID: "env_gone", subnet: subnets[0])
            let kept = try await fabric.ensureEnvironment(environmentID: "env_kept", subnet: subnets[1])
            let goneReplica = try await fabric.attach(replicaID: "rep_gone-0", environmentID: "env_gone", egress: true)
            let keptReplica = try await fabric.attach(replicaID: "rep_kept-0", environmentID: "env_kept")

            await fabric.removeEnvironment(environmentID: "env_gone")
            let objects = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(objects.namespaces == [keptReplica.namespace])
            #expect(Set(objects.links) == [kept.bridge, keptReplica.hostVeth])
            #expect(!objects.links.contains(gone.bridge) && !objects.links.contains(goneReplica.hostVeth))
            let nat = try await tools.iptablesRules(table: "nat", chain: NetworkNames(prefix: testPrefix).masqueradeChain)
            #expect(!nat.contains { $0.contains(subnets[0].cidr) })
            await #expect(throws: YardError.self) { try await fabric.attach(replicaID: "rep_gone-1", environmentID: "env_gone") }
        }
    }

    @Test func removeAllLeavesNothing() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnets = try await NetworkTestHost.freeSubnets(2)
            for (index, subnet) in subnets.enumerated() {
                _ = try await fabric.ensureEnvironment(environmentID: "env_all\(index)", subnet: subnet)
                _ = try await fabric.attach(replicaID: "rep_all\(index)-0", environmentID: "env_all\(index)", egress: index == 0)
                _ = try await fabric.attach(replicaID: "rep_all\(index)-1", environmentID: "env_all\(index)")
            }
            #expect(try await NetworkTestHost.kernelObjects(ip: tools.ip).links.count == 6)

            await fabric.removeAll()
            let objects = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(objects.namespaces.isEmpty && objects.links.isEmpty, "left: \(objects)")
            #expect(await fabric.snapshot.environments.isEmpty)
            #expect(try await tools.iptablesRules(table: "filter", chain: NetworkNames(prefix: testPrefix).forwardChain).isEmpty)
        }
    }

    @Test func removeLeftoversCleansUpAfterACrash() async throws {
        try await NetworkTestHost.withFabric { _, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            do {
                // A fabric that "crashes": it is dropped without removeAll.
                let crashed = NetworkFabric(configuration: .init(namePrefix: testPrefix), logger: .init(label: "crashed"))
                _ = try await crashed.ensureEnvironment(environmentID: "env_crash", subnet: subnet)
                _ = try await crashed.attach(replicaID: "rep_crash-0", environmentID: "env_crash", egress: true)
                _ = try await crashed.attach(replicaID: "rep_crash-1", environmentID: "env_crash")
            }
            // And a namespace with no veth, as a crash between two steps of attach leaves.
            try await SystemCommand(tools.ip, ["netns", "add", "\(testPrefix)-half-attached"]).run()
            let before = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(before.namespaces.count == 3 && before.links.count == 3)

            let removed = await NetworkFabric.removeLeftovers(prefix: testPrefix)
            #expect(removed.count >= 4)
            let after = try await NetworkTestHost.kernelObjects(ip: tools.ip)
            #expect(after.namespaces.isEmpty && after.links.isEmpty, "left: \(after)")
            let names = NetworkNames(prefix: testPrefix)
            #expect(try await tools.iptablesRules(table: "nat", chain: names.masqueradeChain).isEmpty)
            #expect(try await tools.iptablesRules(table: "filter", chain: names.forwardChain).isEmpty)
        }
    }

    @Test func ensureEnvironmentIsIdempotentAndRejectsConflicts() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnets = try await NetworkTestHost.freeSubnets(2)
            let first = try await fabric.ensureEnvironment(environmentID: "env_idem", subnet: subnets[0])
            #expect(try await fabric.ensureEnvironment(environmentID: "env_idem", subnet: subnets[0]) == first)
            let addresses = try await SystemCommand(tools.ip, ["-o", "-4", "addr", "show", "dev", first.bridge]).run().standardOutput
            #expect(addresses.split(separator: "\n").count == 1 && addresses.contains("\(subnets[0].gateway)/24"))

            await #expect(throws: YardError.self) {
                try await fabric.ensureEnvironment(environmentID: "env_idem", subnet: subnets[1])
            }
            await #expect(throws: YardError.self) {
                try await fabric.ensureEnvironment(environmentID: "env_other", subnet: subnets[0])
            }
            await #expect(throws: YardError.self) {
                try await fabric.attach(replicaID: "rep_x", environmentID: "env_missing")
            }
            _ = try await fabric.attach(replicaID: "rep_idem-0", environmentID: "env_idem")
            await #expect(throws: YardError.self) {
                try await fabric.attach(replicaID: "rep_idem-0", environmentID: "env_idem")
            }
        }
    }

    @Test func aSubnetUsedByAnotherInterfaceIsRefused() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            // Someone else's interface (here a bridge named with our prefix, so cleanup catches it) holds the subnet.
            let squatter = "\(testPrefix)b" + String(repeating: "0", count: 8)
            try await SystemCommand(tools.ip, ["link", "add", squatter, "type", "bridge"]).run()
            try await SystemCommand(tools.ip, ["addr", "add", "\(subnet.address(host: 9))/24", "dev", squatter]).run()
            #expect(try await NetworkFabric.subnetIndexesInUse().contains(subnet.index))
            do {
                _ = try await fabric.ensureEnvironment(environmentID: "env_squat", subnet: subnet)
                Issue.record("a subnet in use elsewhere was accepted")
            } catch let error as YardError {
                #expect(error.code == .conflict)
                #expect(error.message.contains(squatter))
            }
        }
    }

    @Test func concurrentAttachesGetDistinctAddresses() async throws {
        try await NetworkTestHost.withFabric { fabric, _ in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            _ = try await fabric.ensureEnvironment(environmentID: "env_many", subnet: subnet)
            let addresses = try await withThrowingTaskGroup(of: String.self) { group in
                for ordinal in 0..<6 {
                    group.addTask { try await fabric.attach(replicaID: "rep_many-\(ordinal)", environmentID: "env_many").address }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(addresses) == Set((2...7).map(subnet.address(host:))))
        }
    }
}
