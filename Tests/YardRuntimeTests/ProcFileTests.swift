import Foundation
import Testing
import YardRuntime

@Suite("Reading /proc files")
struct ProcFileTests {
    @Test("a mount table longer than 4 KB is read whole (Foundation's String(contentsOfFile:) stops at 4 KB)")
    func readsPastFourKilobytes() async throws {
        try #require(getuid() == 0, "this test mounts: run it as root")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("yard-procfile-\(UUID().uuidString)")
        let source = base.appendingPathComponent("source")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        var targets: [String] = []
        defer {
            for target in targets.reversed() { _ = try? SystemCommand("/usr/bin/umount", ["--", target]).resultBlocking() }
            try? FileManager.default.removeItem(at: base)
        }
        for index in 0..<40 {
            let target = base.appendingPathComponent("mount-point-with-a-long-name-to-fill-the-table-\(index)-abcdefghijklmnopqrstuvwxyz").path
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try await SystemCommand("/usr/bin/mount", ["--bind", "--", source.path, target]).run()
            targets.append(target)
        }
        let table = try #require(ProcFile.read("/proc/self/mounts"))
        #expect(table.utf8.count > 4096)
        #expect(table.contains(" \(targets[39]) "), "the last mount is missing: the table was cut")
    }
}
