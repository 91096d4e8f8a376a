import Foundation
import Testing
import YardCore

@testable import YardRuntime
@testable import YardSandbox

/// The seccomp program, run through a small interpreter of the BPF it uses, and the chain
/// step that hands it to bwrap.
@Suite struct SeccompFilterTests {
    /// Runs `program` on one `struct seccomp_data` the way the kernel does (the subset used).
    static func run(_ program: [SeccompFilter.Instruction], arch: UInt32, number: UInt32, firstArgument: UInt64 = 0) -> UInt32 {
        var accumulator: UInt32 = 0
        var counter = 0
        while counter < program.count {
            let instruction = program[counter]
            switch instruction.code {
            case 0x20:
                switch instruction.value {
                case 0: accumulator = number
                case 4: accumulator = arch
                case 16: accumulator = UInt32(truncatingIfNeeded: firstArgument)
                default: Issue.record("load from offset \(instruction.value)")
                }
            case 0x15, 0x35, 0x45:
                let taken: Bool
                switch instruction.code {
                case 0x15: taken = accumulator == instruction.value
                case 0x35: taken = accumulator >= instruction.value
                default: taken = accumulator & instruction.value != 0
                }
                counter += Int(taken ? instruction.jumpIfTrue : instruction.jumpIfFalse)
            case 0x06: return instruction.value
            default: Issue.record("unknown code \(instruction.code)")
            }
            counter += 1
        }
        Issue.record("the program ran off its end")
        return 0
    }

    let x86 = SeccompFilter(architecture: .x86_64)
    func verdict(_ name: String, _ argument: UInt64 = 0) -> UInt32 {
        Self.run(x86.instructions, arch: 0xC000_003E, number: SeccompFilter.Architecture.x86_64.numbers[name]!, firstArgument: argument)
    }

    @Test func deniesTheDockerListWithEPERM() {
        for name in ["keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root", "swapon", "reboot", "kexec_load",
                     "init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "userfaultfd", "ptrace",
                     "setns", "open_by_handle_at", "acct", "settimeofday", "clock_settime", "quotactl", "lookup_dcookie",
                     "iopl", "ioperm", "fsopen", "move_mount"] {
            #expect(verdict(name) == SeccompFilter.error(EPERM), "\(name)")
        }
        #expect(verdict("clone3") == SeccompFilter.error(ENOSYS))
        #expect(verdict("io_uring_setup") == SeccompFilter.error(ENOSYS))
    }

    @Test func namespacesCannotBeCreatedButThreadsAndForksCan() {
        let newUser: UInt64 = 0x1000_0000
        #expect(verdict("unshare", newUser) == SeccompFilter.error(EPERM))
        #expect(verdict("unshare", 0x2000_0000) == SeccompFilter.error(EPERM), "CLONE_NEWPID")
        #expect(verdict("unshare", 0x0000_0200) == SeccompFilter.allow, "CLONE_FILES alone is harmless")
        #expect(verdict("clone", newUser | 0x11) == SeccompFilter.error(EPERM))
        #expect(verdict("clone", 0x003D_0F00) == SeccompFilter.allow, "glibc's pthread_create flags")
        #expect(verdict("clone", 0x0120_0011) == SeccompFilter.allow, "glibc's fork flags")
    }

    @Test func personalityOnlyTakesDockersValues() {
        #expect(verdict("personality", 0) == SeccompFilter.allow)
        #expect(verdict("personality", 0xFFFF_FFFF) == SeccompFilter.allow)
        #expect(verdict("personality", 0x0040000) == SeccompFilter.error(EPERM), "ADDR_NO_RANDOMIZE")
    }

    @Test func ordinaryCallsAndOtherABIs() {
        for number: UInt32 in [0, 1, 2, 3, 9, 57, 59, 60, 231, 257] {  // read … exit_group, openat
            #expect(Self.run(x86.instructions, arch: 0xC000_003E, number: number) == SeccompFilter.allow)
        }
        #expect(Self.run(x86.instructions, arch: 0x4000_0003, number: 1) == SeccompFilter.error(ENOSYS), "i386")
        #expect(Self.run(x86.instructions, arch: 0xC000_003E, number: 0x4000_0001) == SeccompFilter.error(ENOSYS), "x32")
        let arm = SeccompFilter(architecture: .aarch64)
        #expect(Self.run(arm.instructions, arch: 0xC000_00B7, number: 97, firstArgument: 0x1000_0000) == SeccompFilter.error(EPERM))
        #expect(Self.run(arm.instructions, arch: 0xC000_00B7, number: 63) == SeccompFilter.allow, "read")
    }

    @Test func bytesAreTheKernelsLayout() {
        let bytes = x86.bytes
        #expect(bytes.count == x86.instructions.count * 8)
        #expect(Array(bytes.prefix(8)) == [0x20, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00])
    }

    @Test func theChainOpensTheProgramAsDescriptorThreeForBwrap() throws {
        let tools = SandboxTools(bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv", nsenter: "/usr/bin/nsenter")
        let sandbox = SandboxSpec(hostname: "r", limits: ResourceLimits(memoryBytes: 256 << 20), cgroupName: "r")
        let spec = LaunchSpec(arguments: ["true"], environment: [:], workingDirectory: "/", label: "r", sandbox: sandbox)
        let arguments = SandboxCommand(
            spec: spec, sandbox: sandbox, tools: tools, cgroupProcessFiles: [], uid: 65534, gid: 65534,
            seccompFile: "/run/yard-sandbox/f.bpf"
        ).arguments
        let bwrap = try #require(arguments.firstIndex(of: "/usr/bin/bwrap"))
        #expect(Array(arguments[(bwrap - 4)..<bwrap]) == ["/bin/sh", "-c", SandboxCommand.seccompScript, "/run/yard-sandbox/f.bpf"])
        let text = arguments.joined(separator: " ")
        #expect(text.contains("--seccomp 3"))
        #expect(text.contains("--size 268435456 --tmpfs /tmp"), "/tmp is bounded by the memory limit")
    }
}
