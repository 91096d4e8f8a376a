import Foundation
import Testing

@testable import YardSandbox

@Suite struct HostsFileTests {
    @Test func rendersLocalhostHostnameAndPrivateNames() {
        let text = HostsFile.render(
            hostname: "rep_1", services: ["web": ["10.213.1.2"], "db": ["10.213.1.3"], "idle": []], viewer: "rep_1")
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        #expect(
            lines == [
                "127.0.0.1\tlocalhost",
                "::1\tlocalhost ip6-localhost ip6-loopback",
                "127.0.1.1\trep_1",
                "10.213.1.3\tdb.railway.internal",
                "10.213.1.2\tweb.railway.internal",
            ])
        #expect(text.hasSuffix("\n"))
    }

    @Test func listsEveryReplicaOfAServiceInARotationOfTheSameOrder() {
        let addresses = ["10.213.1.2", "10.213.1.3", "10.213.1.4"]
        let text = HostsFile.render(hostname: "h", services: ["api": addresses], viewer: "rep_9")
        let listed = text.split(separator: "\n").filter { $0.hasSuffix("api.railway.internal") }.map {
            String($0.split(separator: "\t")[0])
        }
        #expect(Set(listed) == Set(addresses))
        let start = addresses.firstIndex(of: listed[0])!
        #expect(listed == Array(addresses[start...] + addresses[..<start]))
    }

    @Test func rotationIsStablePerViewerAndSpreadsAcrossViewers() {
        let addresses = ["10.213.1.2", "10.213.1.3", "10.213.1.4"]
        func first(for viewer: String) -> String {
            let text = HostsFile.render(hostname: viewer, services: ["api": addresses], viewer: viewer)
            let line = text.split(separator: "\n").first { $0.hasSuffix("api.railway.internal") }!
            return String(line.split(separator: "\t")[0])
        }
        #expect(first(for: "rep_a-0-1234") == first(for: "rep_a-0-1234"))
        var counts: [String: Int] = [:]
        for viewer in 0..<300 { counts[first(for: "rep_\(viewer)"), default: 0] += 1 }
        #expect(Set(counts.keys) == Set(addresses))
        // Each of three addresses should come first for roughly a third of 300 viewers.
        #expect(counts.values.allSatisfy { $0 > 60 && $0 < 140 }, "uneven spread: \(counts)")
    }

    @Test func rewritesInPlaceKeepingTheInode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-hosts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("hosts").path

        let long = HostsFile.render(hostname: "h", services: ["a": ["10.213.1.2", "10.213.1.3"], "b": ["10.213.1.4"]], viewer: "v")
        try HostsFile.write(long, to: path)
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(permissions?.intValue == 0o644)

        // Opened before the rewrite, as a sandbox's bind mount holds the file: it must see the new text.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? reader.close() }
        let short = HostsFile.render(hostname: "h", services: ["a": ["10.213.1.2"]], viewer: "v")
        try HostsFile.write(short, to: path)

        #expect(try String(contentsOfFile: path, encoding: .utf8) == short)
        let after = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber
        #expect(after == inode)
        try reader.seek(toOffset: 0)
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == short)
    }

    @Test func reportsAnUnwritablePath() {
        #expect(throws: (any Error).self) { try HostsFile.write("x", to: "/nonexistent-dir-\(UUID().uuidString)/hosts") }
    }
}
