/// An IPv4 /24 out of 10.<base>.0.0/16 (10.213 by default), chosen by index: index 1 is
/// 10.213.1.0/24, with the gateway (the bridge's own address) at .1 and replicas from .2 to .254.
///
/// Only the index is meaningful; the other fields are derived from it, so a persisted subnet
/// is just its index and can never be inconsistent.
public struct Subnet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The indexes that name a subnet: 10.213.1.0/24 … 10.213.254.0/24.
    public static let validIndexes = 1...254
    /// Host numbers a replica may get (.1 is the gateway, .255 the broadcast address).
    public static let replicaHosts = 2...254

    public let index: Int
    /// The second octet of the /16 the subnet is carved from (one per server, so two
    /// servers or a server and the tests on one machine never overlap).
    public let base: Int

    /// - Precondition: `index` is in `Subnet.validIndexes`; check with `Subnet.validIndexes.contains(_:)` first
    ///   when the index comes from outside.
    public init(index: Int, base: Int = 213) {
        precondition(Self.validIndexes.contains(index), "subnet index \(index) is outside \(Self.validIndexes)")
        precondition((1...254).contains(base), "base octet \(base) is outside 1...254")
        self.index = index
        self.base = base
    }

    /// The network address, e.g. "10.213.1.0".
    public var network: String { address(host: 0) }
    /// The bridge's address and the replicas' default route when they have egress, e.g. "10.213.1.1".
    public var gateway: String { address(host: 1) }
    public var prefixLength: Int { 24 }
    /// "10.213.1.0/24".
    public var cidr: String { "\(network)/\(prefixLength)" }
    public var description: String { cidr }

    /// The address of host number `host` (0…255) in this subnet, e.g. host 7 → "10.213.1.7".
    public func address(host: Int) -> String {
        precondition((0...255).contains(host), "host number \(host) is outside 0...255")
        return "10.\(base).\(index).\(host)"
    }

    /// The link-layer address of host number `host` (0…255): `02:59` (locally administered,
    /// unicast) then the four bytes of its IPv4 address, e.g. host 7 of 10.213.1.0/24 →
    /// "02:59:0a:d5:01:07". A replica that gets an address a predecessor had also gets its
    /// MAC, so the neighbour (ARP) entries the host and other replicas still hold for that
    /// address stay right, instead of sending to a veth that no longer exists until they expire.
    public func macAddress(host: Int) -> String {
        precondition((0...255).contains(host), "host number \(host) is outside 0...255")
        return ([0x02, 0x59, 10, base, index, host] as [Int]).map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: ":")
    }

    private enum CodingKeys: String, CodingKey { case index, base }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let index = try container.decode(Int.self, forKey: .index)
        guard Self.validIndexes.contains(index) else {
            throw DecodingError.dataCorruptedError(
                forKey: .index, in: container, debugDescription: "subnet index \(index) is outside \(Self.validIndexes)")
        }
        self.index = index
        self.base = try container.decodeIfPresent(Int.self, forKey: .base) ?? 213
    }
}
