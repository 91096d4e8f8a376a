import YardCore

/// Names of the kernel objects one fabric creates, all starting with its prefix so that
/// leftovers are recognisable and can be removed after a crash.
///
/// Interface names are at most 15 characters (the kernel's limit): the prefix (at most 6),
/// one letter for the kind, and 8 hex digits of a hash of the owner's id.
struct NetworkNames: Sendable {
    let prefix: String

    static func isValidPrefix(_ prefix: String) -> Bool {
        (2...6).contains(prefix.count) && prefix.first?.isLetter == true
            && prefix.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
    }

    /// `<prefix>b<hash>`: the bridge of one project-environment.
    func bridge(environmentID: String) -> String { prefix + "b" + Self.shortHash(environmentID) }

    /// `<prefix>v<hash>`: the host end of a replica's veth pair (the other end is `eth0` inside).
    func hostVeth(replicaID: String) -> String { prefix + "v" + Self.shortHash(replicaID) }

    /// `<prefix>-<replica id>`: the replica's network namespace (`/run/netns/<name>`); ids that
    /// are long or hold unusual characters are shortened and made unique with a hash.
    func namespace(replicaID: String) -> String {
        let safe = String(replicaID.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "_" })
        if safe == replicaID, safe.count <= 40 { return "\(prefix)-\(safe)" }
        return "\(prefix)-\(safe.prefix(31))-\(Self.shortHash(replicaID))"
    }

    /// iptables chain in the filter table holding this fabric's forwarding rules.
    var forwardChain: String { prefix.uppercased() + "-FORWARD" }
    /// iptables chain in the nat table holding this fabric's MASQUERADE rules.
    var masqueradeChain: String { prefix.uppercased() + "-POSTROUTING" }
    /// iptables interface pattern matching every bridge of this fabric.
    var bridgePattern: String { prefix + "b+" }

    func isBridgeOrVeth(_ interface: String) -> Bool {
        guard interface.hasPrefix(prefix) else { return false }
        let rest = interface.dropFirst(prefix.count)
        guard let kind = rest.first, kind == "b" || kind == "v" else { return false }
        let hash = rest.dropFirst()
        return hash.count == 8 && hash.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    func isNamespace(_ name: String) -> Bool { name.hasPrefix(prefix + "-") }

    static func shortHash(_ id: String) -> String { String(ContentHash.sha256(id).prefix(8)) }
}
