import Foundation
import Testing

@testable import YardSandbox

@Suite struct SubnetTests {
    @Test func addressesDerivedFromTheIndex() {
        let subnet = Subnet(index: 7)
        #expect(subnet.network == "10.213.7.0")
        #expect(subnet.gateway == "10.213.7.1")
        #expect(subnet.prefixLength == 24)
        #expect(subnet.cidr == "10.213.7.0/24")
        #expect(subnet.address(host: 2) == "10.213.7.2")
    }

    @Test func encodesAndDecodesItsIndexAndBase() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(Subnet(index: 12, base: 220))
        #expect(String(decoding: data, as: UTF8.self) == #"{"base":220,"index":12}"#)
        #expect(try JSONDecoder().decode(Subnet.self, from: data) == Subnet(index: 12, base: 220))
        // Subnets stored before the base existed are 10.213.x.
        #expect(try JSONDecoder().decode(Subnet.self, from: Data(#"{"index":12}"#.utf8)).address(host: 1) == "10.213.12.1")
        #expect(Subnet(index: 3, base: 220).gateway == "10.220.3.1")
    }

    @Test func rejectsAnIndexOutsideTheRange() {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Subnet.self, from: Data(#"{"index":0}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Subnet.self, from: Data(#"{"index":255}"#.utf8)) }
    }
}

@Suite struct NetworkNamesTests {
    let names = NetworkNames(prefix: "yard")

    @Test func interfaceNamesFitTheKernelLimitAndCarryThePrefix() {
        let longest = NetworkNames(prefix: "abcdef")
        for name in [longest.bridge(environmentID: "env_0123456789abcdef"), longest.hostVeth(replicaID: "rep_x-0-abcd")] {
            #expect(name.count <= 15)
            #expect(name.hasPrefix("abcdef"))
            #expect(longest.isBridgeOrVeth(name))
        }
        #expect(names.bridge(environmentID: "env_a") != names.bridge(environmentID: "env_b"))
        #expect(names.bridge(environmentID: "env_a") == names.bridge(environmentID: "env_a"))
    }

    @Test func namespaceNamesKeepShortIdsAndShortenOthers() {
        #expect(names.namespace(replicaID: "rep_0123456789abcdef-0-a1b2") == "yard-rep_0123456789abcdef-0-a1b2")
        let odd = names.namespace(replicaID: "rep/with spaces/" + String(repeating: "x", count: 60))
        #expect(odd.count <= 5 + 31 + 9)
        #expect(!odd.contains("/") && !odd.contains(" "))
        #expect(names.isNamespace(odd))
    }

    @Test func recognisesOnlyItsOwnKernelObjects() {
        #expect(names.isBridgeOrVeth("yardb0123abcd"))
        #expect(names.isBridgeOrVeth("yardv0123abcd"))
        #expect(!names.isBridgeOrVeth("yardx0123abcd"))
        #expect(!names.isBridgeOrVeth("yardb0123"))
        #expect(!names.isBridgeOrVeth("eth0"))
        #expect(!names.isBridgeOrVeth("ytb0123abcd"))
        #expect(!names.isNamespace("yt-rep_1"))
        #expect(names.forwardChain == "YARD-FORWARD")
        #expect(names.masqueradeChain == "YARD-POSTROUTING")
    }

    @Test func validatesPrefixes() {
        #expect(NetworkNames.isValidPrefix("yard"))
        #expect(NetworkNames.isValidPrefix("yt"))
        #expect(!NetworkNames.isValidPrefix("y"))
        #expect(!NetworkNames.isValidPrefix("toolong7"))
        #expect(!NetworkNames.isValidPrefix("Yard"))
        #expect(!NetworkNames.isValidPrefix("1yard"))
        #expect(!NetworkNames.isValidPrefix("ya-d"))
    }
}

@Suite struct ReplicaMACTests {
    @Test func theMACCarriesTheAddressBehindALocallyAdministeredPrefix() {
        #expect(Subnet(index: 1).macAddress(host: 7) == "02:59:0a:d5:01:07")
        #expect(Subnet(index: 254, base: 250).macAddress(host: 254) == "02:59:0a:fa:fe:fe")
        #expect(Subnet(index: 12, base: 220).macAddress(host: 1) == "02:59:0a:dc:0c:01")
    }

    @Test func everyAddressOfEverySubnetHasItsOwnMACAndTheSameOneEachTime() {
        var seen = Set<String>()
        for base in [213, 214] {
            for index in [1, 2, 254] {
                for host in Subnet.replicaHosts {
                    let subnet = Subnet(index: index, base: base)
                    let mac = subnet.macAddress(host: host)
                    #expect(mac == subnet.macAddress(host: host))
                    #expect(seen.insert(mac).inserted, "\(mac) given twice")
                }
            }
        }
        // Unicast (lowest bit of the first byte clear) and locally administered (second bit set).
        let first = UInt8(Subnet(index: 3).macAddress(host: 2).prefix(2), radix: 16)!
        #expect(first & 0x01 == 0 && first & 0x02 == 2)
    }
}
