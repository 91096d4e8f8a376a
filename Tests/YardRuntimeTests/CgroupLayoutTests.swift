import Foundation
import Testing

@testable import YardRuntime
@testable import YardSandbox

@Suite struct CgroupLayoutTests {
    /// This machine's kind: v1 controllers, the memory controller's path not the root, and a
    /// unified v2 tree without controllers.
    @Test func parsesAHybridLayout() {
        let cgroupFile = """
            9:name=systemd:/
            8:pids:/
            4:memory:/process_api/abc123
            2:cpuacct:/
            1:cpu:/
            0::/
            """
        let mountInfo = """
            30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
            33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
            35 30 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            36 30 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let layout = CgroupLayout.parse(cgroupFile: cgroupFile, mountInfo: mountInfo) { path in
            path == "/sys/fs/cgroup/unified/cgroup.controllers" ? "hugetlb\n" : nil
        }
        #expect(layout.mode == .hybrid)
        #expect(layout.hierarchy(for: "memory")?.ownDirectory == "/sys/fs/cgroup/memory/process_api/abc123")
        #expect(layout.hierarchy(for: "cpu")?.ownDirectory == "/sys/fs/cgroup/cpu")
        #expect(layout.hierarchy(for: "cpuacct")?.version == 1)
        #expect(layout.hierarchy(for: "pids")?.mountPoint == "/sys/fs/cgroup/pids")
        #expect(layout.unified?.ownDirectory == "/sys/fs/cgroup/unified")
        #expect(layout.unified?.controllers == ["hugetlb"])
        #expect(layout.hierarchy(for: "io") == nil)
        // The named systemd hierarchy has no controllers.
        #expect(layout.hierarchies.contains { $0.mountPoint == "/sys/fs/cgroup/systemd" && $0.controllers.isEmpty })
        #expect(layout.summary == "hybrid: memory, cpu, cpuacct, pids on v1; unified v2 tree for kill and accounting")
    }

    @Test func parsesPureV1WithCoMountedCPUControllers() {
        let cgroupFile = """
            5:cpu,cpuacct:/system.slice/yard.service
            4:memory:/system.slice/yard.service
            3:pids:/system.slice/yard.service
            """
        let mountInfo = """
            40 30 0:40 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
            41 30 0:41 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
            42 30 0:42 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
            """
        let layout = CgroupLayout.parse(cgroupFile: cgroupFile, mountInfo: mountInfo) { _ in nil }
        #expect(layout.mode == .v1)
        #expect(layout.unified == nil)
        #expect(layout.hierarchy(for: "cpu") == layout.hierarchy(for: "cpuacct"))
        #expect(
            layout.hierarchy(for: "cpu")?.ownDirectory == "/sys/fs/cgroup/cpu,cpuacct/system.slice/yard.service")
        #expect(layout.summary == "v1: memory, cpu, cpuacct, pids on v1")
    }

    @Test func parsesPureV2WithControllersFromOurOwnCgroup() {
        let layout = CgroupLayout.parse(
            cgroupFile: "0::/system.slice/yard.service\n",
            mountInfo: "25 1 0:22 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
        ) { path in
            path == "/sys/fs/cgroup/system.slice/yard.service/cgroup.controllers" ? "cpuset cpu io memory pids\n" : nil
        }
        #expect(layout.mode == .v2)
        #expect(layout.hierarchy(for: "memory")?.version == 2)
        #expect(layout.hierarchy(for: "cpuacct") == nil, "v2 has no cpuacct; CPU time comes from cpu.stat")
        #expect(layout.unified?.ownDirectory == "/sys/fs/cgroup/system.slice/yard.service")
        #expect(layout.summary == "v2: memory, cpu, pids on v2; missing: cpuacct")
    }

    /// A container that sees its host's cgroup path but has only its own subtree mounted.
    @Test func makesOurPathRelativeToTheMountsRoot() {
        let layout = CgroupLayout.parse(
            cgroupFile: "4:memory:/docker/0123abcd\n",
            mountInfo: "50 40 0:41 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
        ) { _ in nil }
        #expect(layout.hierarchy(for: "memory")?.ownPath == "/")
        #expect(layout.hierarchy(for: "memory")?.ownDirectory == "/sys/fs/cgroup/memory")
    }

    @Test func decodesEscapedMountPoints() {
        let mounts = CgroupLayout.parseMountInfo(
            "60 30 0:50 / /mnt/my\\040cgroups rw - cgroup cgroup rw,pids\n61 30 0:51 / /home rw - ext4 /dev/sda1 rw\n")
        #expect(mounts.map(\.mountPoint) == ["/mnt/my cgroups"])
    }

    @Test func noCgroupsMeansNoMode() {
        let layout = CgroupLayout.parse(cgroupFile: "", mountInfo: "") { _ in nil }
        #expect(layout.mode == nil)
        #expect(layout.summary == "no cgroup hierarchies mounted")
    }

    /// Whatever this machine is, detection agrees with what /proc/self/cgroup says.
    @Test func detectsThisMachinesLayout() throws {
        let layout = try CgroupLayout.detect()
        let mode = try #require(layout.mode, "no cgroups mounted on this machine")
        let lines = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n")
        if let memoryLine = lines.first(where: { $0.split(separator: ":", maxSplits: 2)[1].split(separator: ",").contains("memory") }) {
            #expect(mode != .v2)
            let path = String(memoryLine.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)[2])
            let memory = try #require(layout.hierarchy(for: "memory"))
            #expect(memory.version == 1)
            #expect(path.hasSuffix(memory.ownPath == "/" ? "" : memory.ownPath))
            #expect(FileManager.default.fileExists(atPath: memory.ownDirectory + "/memory.limit_in_bytes"))
        } else {
            #expect(mode == .v2)
        }
        if let unified = layout.unified {
            #expect(FileManager.default.fileExists(atPath: unified.ownDirectory + "/cgroup.procs"))
        }
    }
}
