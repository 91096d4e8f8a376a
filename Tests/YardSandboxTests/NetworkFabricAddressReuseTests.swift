import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardSandbox

/// Issue 12: an address a replica reuses must not be sent to its predecessor's MAC. Part
/// of the serialized `NetworkFabricTests` suite: they share the "yt" prefix.
extension NetworkFabricTests {
    @Test func aReusedAddressKeepsItsMACAndAnswersAtOnceWhileTheBridgeKeepsItsOwn() async throws {
        try await NetworkTestHost.withFabric { fabric, tools in
            let subnet = try await NetworkTestHost.freeSubnets(1)[0]
            let network = try await fabric.ensureEnvironment(environmentID: "env_reuse", subnet: subnet)
            let bridgeMAC = try await Self.mac(of: network.bridge, in: nil, ip: tools.ip)
            #expect(bridgeMAC == subnet.macAddress(host: 1))
            // Neighbours stay on the bridge throughout, as other services of an environment do.
            let neighbours = [
                try await fabric.attach(replicaID: "rep_reuse-n0", environmentID: "env_reuse"),
                try await fabric.attach(replicaID: "rep_reuse-n1", environmentID: "env_reuse"),
            ]
            let old = try await fabric.attach(replicaID: "rep_reuse-old", environmentID: "env_reuse")
            #expect(try await Self.mac(of: "eth0", in: old.namespace, ip: tools.ip) == subnet.macAddress(host: 4))
            try await tools.startServer(in: old.namespace, address: old.address, port: 8080)
            // The host and a neighbour now hold fresh (REACHABLE) neighbour entries for the address.
            #expect(try await tools.connect(from: nil, to: old.address, port: 8080).connected)
            #expect(try await tools.connect(from: neighbours[0].namespace, to: old.address, port: 8080).connected)
            tools.stopServers()
            await fabric.detach(replicaID: old.replicaID)

            let new = try await fabric.attach(replicaID: "rep_reuse-new", environmentID: "env_reuse")
            #expect(new.address == old.address)
            #expect(try await Self.mac(of: "eth0", in: new.namespace, ip: tools.ip) == subnet.macAddress(host: 4))
            #expect(try await Self.mac(of: network.bridge, in: nil, ip: tools.ip) == bridgeMAC, "the bridge's MAC changed")
            let started = ContinuousClock.now
            try await tools.startServer(in: new.namespace, address: new.address, port: 8080)
            let took = ContinuousClock.now - started
            #expect(took < .seconds(2), "the host reached the reused address after \(took)")
            // A neighbour that talked to the old replica reaches the new one too.
            let fromNeighbour = try await tools.connect(from: neighbours[0].namespace, to: new.address, port: 8080)
            #expect(fromNeighbour.connected, "\(fromNeighbour.message)")
        }
    }

    /// The link-layer address of `interface` on the host (or inside `namespace`).
    static func mac(of interface: String, in namespace: String?, ip: String) async throws -> String {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let output = try await SystemCommand(ip, prefix + ["-o", "link", "show", "dev", interface]).run().standardOutput
        let fields = output.split(separator: " ")
        let ether = try #require(fields.firstIndex(of: "link/ether"), "no link/ether in \(output)")
        return String(fields[ether + 1])
    }
}
