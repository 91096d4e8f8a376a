import Foundation
import Testing
import YardCore

@testable import YardRuntime
@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// Real cgroups on this machine, under a parent of the test's own (removed at the end).
@Suite struct CgroupTests {
    @Test func createsOneDirectoryPerHierarchyWithTheLimitsWritten() async throws {
        try await withCgroupParent { parent, layout in
            let cgroup = try Cgroup.create(
                name: "yt-limits", parent: parent,
                limits: ResourceLimits(memoryBytes: 64 << 20, cpus: 0.25, maxProcesses: 7), extraProcesses: 2,
                layout: layout)
            #expect(cgroup.directories.allSatisfy { FileManager.default.fileExists(atPath: $0 + "/cgroup.procs") })
            #expect(Set(cgroup.directories).count == cgroup.directories.count)

            let memory = try #require(layout.hierarchy(for: "memory"))
            let memoryDirectory = Cgroup.parentDirectory(in: memory, parent: parent) + "/yt-limits"
            #expect(cgroup.directories.contains(memoryDirectory))
            if memory.version == 1 {
                #expect(Cgroup.readFile(memoryDirectory + "/memory.limit_in_bytes") == String(64 << 20))
                #expect(Cgroup.field("oom_kill_disable", in: memoryDirectory + "/memory.oom_control") == 0)
            } else {
                #expect(Cgroup.readFile(memoryDirectory + "/memory.max") == String(64 << 20))
            }
            let cpu = try #require(layout.hierarchy(for: "cpu"))
            let cpuDirectory = Cgroup.parentDirectory(in: cpu, parent: parent) + "/yt-limits"
            if cpu.version == 1 {
                #expect(Cgroup.readFile(cpuDirectory + "/cpu.cfs_quota_us") == "25000")
                #expect(Cgroup.readFile(cpuDirectory + "/cpu.cfs_period_us") == "100000")
            } else {
                #expect(Cgroup.readFile(cpuDirectory + "/cpu.max") == "25000 100000")
            }
            let pids = try #require(layout.hierarchy(for: "pids"))
            #expect(Cgroup.readFile(Cgroup.parentDirectory(in: pids, parent: parent) + "/yt-limits/pids.max") == "9")

            #expect(cgroup.oomKillCount() == 0)
            #expect(cgroup.members().isEmpty)
            #expect(await cgroup.remove())
            #expect(cgroup.directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            #expect(cgroup.usage() == nil)
        }
    }

    @Test func aProcessJoinsBeforeItExecsAndRemovingKillsIt() async throws {
        try await withCgroupParent { parent, layout in
            let cgroup = try Cgroup.create(name: "yt-join", parent: parent, limits: ResourceLimits(), layout: layout)
            let process = try await PlainProcessLauncher().launch(
                LaunchSpec(
                    arguments: ["/bin/sh", "-c", SandboxCommand.joinScript, "sandbox-join", String(cgroup.processFiles.count)]
                        + cgroup.processFiles + ["/bin/sleep", "30"],
                    environment: [:], workingDirectory: "/", label: "test"),
                output: { _, _ in })
            #expect(await eventually { cgroup.members() == [process.pid] })
            let ownCgroups = try String(contentsOfFile: "/proc/\(process.pid)/cgroup", encoding: .utf8)
            for hierarchy in layout.hierarchies where cgroup.directories.contains(where: { $0.hasPrefix(hierarchy.mountPoint + "/") }) {
                let expected = (hierarchy.ownPath == "/" ? "" : hierarchy.ownPath) + "/\(parent)/yt-join"
                #expect(ownCgroups.contains(":" + expected + "\n"), "joined in \(hierarchy.mountPoint)")
            }
            let usage = try #require(cgroup.usage())
            #expect(usage.memoryBytes > 0)

            #expect(await cgroup.remove())
            #expect(await process.wait() == .signaled(signal: SIGKILL))
        }
    }

    @Test func removeAllKillsWhatRunsAndRemovesEveryCgroupAndTheParent() async throws {
        try await withCgroupParent { parent, layout in
            var processes: [any LaunchedProcess] = []
            for name in ["yt-left-a", "yt-left-b"] {
                let cgroup = try Cgroup.create(name: name, parent: parent, limits: ResourceLimits(), layout: layout)
                processes.append(
                    try await PlainProcessLauncher().launch(
                        LaunchSpec(
                            arguments: ["/bin/sh", "-c", SandboxCommand.joinScript, "j", String(cgroup.processFiles.count)]
                                + cgroup.processFiles + ["/bin/sh", "-c", "sleep 30 & sleep 30"],
                            environment: TestEnvironment.minimal, workingDirectory: "/", label: "test"),
                        output: { _, _ in }))
                #expect(await eventually { cgroup.members().count >= 2 })
            }
            let removed = try await Cgroup.removeAll(parent: parent, layout: layout)
            #expect(removed == ["yt-left-a", "yt-left-b"])
            for process in processes { #expect(await process.wait() == .signaled(signal: SIGKILL)) }
            #expect(cgroupParentDirectories(parent, layout: layout).isEmpty)
        }
    }

    @Test func rejectsNamesThatAreNotOneDirectory() throws {
        let layout = try CgroupLayout.detect()
        for name in ["", "..", "a/b"] {
            #expect(throws: YardError.self) { _ = try Cgroup.create(name: name, parent: "yt-x", limits: .init(), layout: layout) }
        }
    }
}

/// The `<own cgroup>/<parent>` directories that exist now, in every hierarchy.
func cgroupParentDirectories(_ parent: String, layout: CgroupLayout) -> [String] {
    layout.hierarchies.map { Cgroup.parentDirectory(in: $0, parent: parent) }
        .filter { FileManager.default.fileExists(atPath: $0) }
}

/// Runs `body` with a fresh cgroup parent name; removes everything under it afterwards, even
/// when the body fails, and checks nothing is left. Fails (never skips) without root.
func withCgroupParent(
    _ body: (_ parent: String, _ layout: CgroupLayout) async throws -> Void
) async throws {
    try #require(geteuid() == 0, "cgroup tests need root: run the tests as root")
    let layout = try CgroupLayout.detect()
    try #require(layout.mode != nil, "no cgroups are mounted on this machine")
    let parent = "yt-\(UUID().uuidString.prefix(8).lowercased())"
    do {
        try await body(parent, layout)
    } catch {
        _ = try? await Cgroup.removeAll(parent: parent, layout: layout)
        throw error
    }
    try await Cgroup.removeAll(parent: parent, layout: layout)
    #expect(cgroupParentDirectories(parent, layout: layout).isEmpty)
}
