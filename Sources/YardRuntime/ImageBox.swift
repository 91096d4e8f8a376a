/// A box whose root filesystem is an image instance instead of the host's read-only root:
/// it runs in a user namespace where ids 0…65535 are the host ids `idBase…idBase+65535`.
public struct ImageBox: Sendable, Equatable {
    /// The instance's writable root on the host (a mount of its own, reachable by `idBase`).
    public var rootDirectory: String
    /// The host id that is root inside (`SandboxIdentity.imageIDBlock`).
    public var idBase: UInt32
    /// The uid and gid the command runs as inside (the image's `USER`).
    public var uid: UInt32
    public var gid: UInt32

    /// Docker's default capability set: what a root image keeps inside its user namespace.
    public static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    public init(rootDirectory: String, idBase: UInt32, uid: UInt32, gid: UInt32) {
        self.rootDirectory = rootDirectory
        self.idBase = idBase
        self.uid = uid
        self.gid = gid
    }
}
