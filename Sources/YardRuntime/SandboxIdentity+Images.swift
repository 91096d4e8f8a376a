import Foundation
import YardCore

/// Who an image replica is on the host: each service (per environment) gets a block of 65536
/// consecutive host ids for its image boxes, mapped as ids 0…65535 of a user namespace of its
/// own. The blocks lie in `imageIDBase ..< imageIDBase + imageIDSlots * imageIDCount`
/// (0x80000000 up to 0xFF000000), above the service uids (`serviceUIDBase`, 2^24 single ids
/// from 0x70000000), `shellUID` and `unpackUID`, so no folder replica, build, shell or host
/// user shares an id with an image box. The block is derived from the same key as the
/// service uid (FNV-1a), so nothing is stored.
extension SandboxIdentity {
    /// The first id of the first block.
    public static let imageIDBase: UInt32 = 0x8000_0000
    /// The ids in one service's block (a user namespace's 0…65535).
    public static let imageIDCount: UInt32 = 1 << 16
    /// How many blocks there are.
    public static let imageIDSlots: UInt32 = 0x7F00
    /// The `/etc/subuid` and `/etc/subgid` line that lets root map the blocks
    /// (`newuidmap` checks it): `root:2147483648:2130706432`.
    public static var imageSubordinateLine: String { "root:\(imageIDBase):\(imageIDSlots * imageIDCount)" }

    /// The host id that is root (0) in the image boxes of `serviceKey` (`service/environment`).
    public static func imageIDBlock(forService serviceKey: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ("image:" + serviceKey).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return imageIDBase + UInt32(truncatingIfNeeded: hash % UInt64(imageIDSlots)) * imageIDCount
    }

    /// Whether `/etc/subuid` and `/etc/subgid` give root the image blocks; the error says
    /// what to add.
    public static func checkImageSubordinateIDs(subuid: String, subgid: String) throws(YardError) {
        for (name, text) in [("/etc/subuid", subuid), ("/etc/subgid", subgid)] {
            let covers = text.split(separator: "\n").contains { line in
                let fields = line.split(separator: ":")
                guard fields.count == 3, fields[0] == "root" || fields[0] == "0",
                    let start = UInt64(fields[1]), let count = UInt64(fields[2])
                else { return false }
                return start <= UInt64(imageIDBase) && start + count >= UInt64(imageIDBase) + UInt64(imageIDSlots * imageIDCount)
            }
            guard covers else {
                throw YardError(
                    .unavailable,
                    "images run in user namespaces that need root's subordinate ids: add the line '\(imageSubordinateLine)' to \(name) (scripts/setup.sh does)")
            }
        }
    }
}
