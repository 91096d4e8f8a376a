import Foundation

/// The seccomp filter every sandbox runs under: a classic BPF program, as bwrap's
/// `--seccomp FD` loads it, that denies the system calls Docker's default profile denies to a
/// container without capabilities, and every way into a new namespace.
///
/// A deny list, not an allow list: the boxes run arbitrary language runtimes and database
/// servers, and a call that is missing from an allow list breaks them in ways that are hard to
/// see; what is denied here is what reaches kernel code that an unprivileged process has no
/// business reaching, or what lets it leave its namespaces. Calls the kernel already refuses
/// without capabilities (`mount`, `reboot`, module loading …) are denied too, so that a nested
/// user namespace (which would grant those capabilities) is not the only wall.
///
/// Denied calls fail with `EPERM` as in Docker, except where a runtime falls back only on
/// `ENOSYS` (`clone3`, whose flags a filter cannot read; `io_uring`). Calls of another ABI
/// (i386 `int 0x80`, x32) fail with `ENOSYS`: their numbers differ, so the list would not apply.
public struct SeccompFilter: Sendable, Equatable {
    /// One `struct sock_filter` instruction.
    public struct Instruction: Sendable, Equatable {
        public var code: UInt16
        public var jumpIfTrue: UInt8
        public var jumpIfFalse: UInt8
        public var value: UInt32
    }

    /// The processor a filter is for: its audit arch and its system call numbers.
    public struct Architecture: Sendable, Equatable {
        public var name: String
        var auditArch: UInt32
        /// Numbers at or above this belong to another ABI on the same arch (x86_64's x32).
        var foreignABIBit: UInt32?
        var numbers: [String: UInt32]

        /// x86_64 (numbers from `asm/unistd_64.h`).
        public static let x86_64 = Architecture(
            name: "x86_64", auditArch: 0xC000_003E, foreignABIBit: 0x4000_0000,
            numbers: [
                "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135, "ustat": 136, "vhangup": 153,
                "pivot_root": 155, "_sysctl": 156, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
                "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
                "iopl": 172, "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
                "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180, "getpmsg": 181,
                "putpmsg": 182, "afs_syscall": 183, "tuxcall": 184, "security": 185, "lookup_dcookie": 212,
                "clock_settime": 227, "vserver": 236, "kexec_load": 246, "add_key": 248, "request_key": 249,
                "keyctl": 250, "unshare": 272, "fanotify_init": 300, "open_by_handle_at": 304, "clock_adjtime": 305,
                "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
                "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298, "clone": 56,
                "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
                "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
                "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
            ])

        /// aarch64 (numbers from `asm-generic/unistd.h`; it lacks the legacy calls).
        public static let aarch64 = Architecture(
            name: "aarch64", auditArch: 0xC000_00B7, foreignABIBit: nil,
            numbers: [
                "lookup_dcookie": 18, "umount2": 39, "mount": 40, "pivot_root": 41, "nfsservctl": 42, "chroot": 51,
                "vhangup": 58, "quotactl": 60, "acct": 89, "personality": 92, "unshare": 97, "kexec_load": 104,
                "init_module": 105, "delete_module": 106, "clock_settime": 112, "syslog": 116, "ptrace": 117,
                "reboot": 142, "sethostname": 161, "setdomainname": 162, "settimeofday": 170, "add_key": 217,
                "request_key": 218, "keyctl": 219, "clone": 220, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
                "fanotify_init": 262, "open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268,
                "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "finit_module": 273, "bpf": 280,
                "userfaultfd": 282, "kexec_file_load": 294, "io_uring_setup": 425, "io_uring_enter": 426,
                "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
                "fsmount": 432, "fspick": 433, "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440,
                "mount_setattr": 442, "quotactl_fd": 443,
            ])

        /// The machine this process runs on, nil where no table exists.
        public static var current: Architecture? {
            #if arch(x86_64)
                return .x86_64
            #elseif arch(arm64)
                return .aarch64
            #else
                return nil
            #endif
        }
    }

    /// Denied with `EPERM`, and why (names missing from an arch's table do not exist there).
    public static let denied: KeyValuePairs<String, String> = [
        // Kernel keyrings are not namespaced: another tenant's keys, and a history of bugs.
        "keyctl": "keyring", "add_key": "keyring", "request_key": "keyring",
        // Filesystem views: a box keeps the mounts it was given.
        "mount": "mounts", "umount2": "mounts", "pivot_root": "mounts", "chroot": "mounts", "open_tree": "mounts",
        "move_mount": "mounts", "fsopen": "mounts", "fsconfig": "mounts", "fsmount": "mounts", "fspick": "mounts",
        "mount_setattr": "mounts",
        // Namespaces: joining one (a box has no business with another's).
        "setns": "namespaces",
        // The machine itself.
        "swapon": "host", "swapoff": "host", "reboot": "host", "kexec_load": "host", "kexec_file_load": "host",
        "init_module": "host", "finit_module": "host", "delete_module": "host", "create_module": "host",
        "get_kernel_syms": "host", "query_module": "host", "acct": "host", "settimeofday": "host",
        "clock_settime": "host", "clock_adjtime": "host", "quotactl": "host", "quotactl_fd": "host",
        "sethostname": "host", "setdomainname": "host", "syslog": "host", "vhangup": "host", "nfsservctl": "host",
        "_sysctl": "host", "ustat": "host", "uselib": "host", "iopl": "host", "ioperm": "host",
        "lookup_dcookie": "host", "fanotify_init": "host", "open_by_handle_at": "host",
        // Large kernel attack surface reachable without privileges.
        "bpf": "kernel surface", "perf_event_open": "kernel surface", "userfaultfd": "kernel surface",
        // Reading or steering other processes (a `yard shell` entering the box is one).
        "ptrace": "other processes", "process_vm_readv": "other processes", "process_vm_writev": "other processes",
        "kcmp": "other processes", "pidfd_getfd": "other processes", "process_madvise": "other processes",
        // Never implemented, or removed: nothing legitimate calls them.
        "afs_syscall": "unused", "tuxcall": "unused", "security": "unused", "getpmsg": "unused",
        "putpmsg": "unused", "vserver": "unused",
    ]

    /// Fail with `ENOSYS`, so runtimes fall back (glibc to `clone`, libuv and InnoDB to other I/O).
    public static let unimplemented = ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"]

    /// `CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME`: `clone` and
    /// `unshare` with any of these fail (no nested user namespace, no new namespace at all).
    public static let namespaceFlags: UInt32 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000
        | 0x2000_0000 | 0x4000_0000 | 0x0000_0080

    /// `personality` values Docker allows: the default, `PER_LINUX32`, `UNAME26` and both, and the
    /// query. Others (`ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC` …) weaken the box's own defences.
    public static let allowedPersonalities: [UInt32] = [0x0, 0x8, 0x20000, 0x20008, 0xFFFF_FFFF]

    public let architecture: Architecture
    public let instructions: [Instruction]

    public init(architecture: Architecture) {
        self.architecture = architecture
        instructions = Self.program(for: architecture)
    }

    /// The program as the kernel's `struct sock_filter` array, in this machine's byte order.
    public var bytes: Data {
        var data = Data(capacity: instructions.count * 8)
        for instruction in instructions {
            withUnsafeBytes(of: instruction.code.littleEndian) { data.append(contentsOf: $0) }
            data.append(instruction.jumpIfTrue)
            data.append(instruction.jumpIfFalse)
            withUnsafeBytes(of: instruction.value.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    // MARK: - The program

    private static let loadWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    private static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    private static let jumpGreaterOrEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    private static let jumpSet: UInt16 = 0x45  // BPF_JMP | BPF_JSET | BPF_K
    private static let `return`: UInt16 = 0x06  // BPF_RET | BPF_K

    static let allow: UInt32 = 0x7FFF_0000  // SECCOMP_RET_ALLOW
    static func error(_ number: Int32) -> UInt32 { 0x0005_0000 | UInt32(number) }  // SECCOMP_RET_ERRNO

    // Offsets in `struct seccomp_data`: nr, arch, then the arguments (their low words first).
    private static let numberOffset: UInt32 = 0
    private static let archOffset: UInt32 = 4
    private static let firstArgumentLowWord: UInt32 = 16

    private static func statement(_ code: UInt16, _ value: UInt32) -> Instruction {
        Instruction(code: code, jumpIfTrue: 0, jumpIfFalse: 0, value: value)
    }

    private static func jump(_ code: UInt16, _ value: UInt32, ifTrue: UInt8 = 0, ifFalse: UInt8 = 0) -> Instruction {
        Instruction(code: code, jumpIfTrue: ifTrue, jumpIfFalse: ifFalse, value: value)
    }

    /// Every check is a short block that either returns or falls through, so no jump is long.
    static func program(for architecture: Architecture) -> [Instruction] {
        var program: [Instruction] = [
            statement(loadWord, archOffset),
            jump(jumpEqual, architecture.auditArch, ifTrue: 1),
            statement(`return`, error(ENOSYS)),
            statement(loadWord, numberOffset),
        ]
        if let bit = architecture.foreignABIBit {
            program += [jump(jumpGreaterOrEqual, bit, ifFalse: 1), statement(`return`, error(ENOSYS))]
        }
        func refuse(_ name: String, with result: UInt32) {
            guard let number = architecture.numbers[name] else { return }
            program += [jump(jumpEqual, number, ifFalse: 1), statement(`return`, result)]
        }
        for (name, _) in denied { refuse(name, with: error(EPERM)) }
        for name in unimplemented { refuse(name, with: error(ENOSYS)) }
        // clone and unshare: refused when the flags ask for a namespace. The block loads the
        // flags (the accumulator no longer holds the number), so it always returns.
        for name in ["clone", "unshare"] {
            guard let number = architecture.numbers[name] else { continue }
            program += [
                jump(jumpEqual, number, ifFalse: 4),
                statement(loadWord, firstArgumentLowWord),
                jump(jumpSet, namespaceFlags, ifFalse: 1),
                statement(`return`, error(EPERM)),
                statement(`return`, allow),
            ]
        }
        if let number = architecture.numbers["personality"] {
            let values = allowedPersonalities
            program += [jump(jumpEqual, number, ifFalse: UInt8(values.count + 3)), statement(loadWord, firstArgumentLowWord)]
            for (index, value) in values.enumerated() {
                program.append(jump(jumpEqual, value, ifTrue: UInt8(values.count - index)))
            }
            program += [statement(`return`, error(EPERM)), statement(`return`, allow)]
        }
        program.append(statement(`return`, allow))
        return program
    }
}
