import Foundation
import Testing

@testable import YardBuild

@Suite("Secret scan of a built app, in process")
struct SecretScanTests {
    static func app() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("secret-scan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        return root
    }

    @Test func findsValuesAlsoAcrossReadBoundariesAndNamesTheFiles() throws {
        let root = try Self.app()
        defer { try? FileManager.default.removeItem(at: root) }
        let secret = "s3cr3t-value-\(UUID().uuidString)"
        // The value straddles the first 1 MiB read.
        var big = Data(repeating: 0x61, count: (1 << 20) - 7)
        big.append(Data(secret.utf8))
        try big.write(to: root.appendingPathComponent("sub/big.bin"))
        try Data("nothing here".utf8).write(to: root.appendingPathComponent("clean.txt"))
        try Data("x \(secret) y".utf8).write(to: root.appendingPathComponent("a.txt"))
        let found = SecretScan.files(containing: ["TOKEN": secret, "OTHER": "not-present-anywhere"], under: root)
        #expect(found == ["TOKEN": ["a.txt", "sub/big.bin"]])
    }

    @Test func followsNoLinkAndOpensNoFIFO() throws {
        let root = try Self.app()
        defer { try? FileManager.default.removeItem(at: root) }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("secret-outside-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        let secret = "outside-\(UUID().uuidString)"
        try Data(secret.utf8).write(to: outside)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: outside.path)
        #expect(mkfifo(root.appendingPathComponent("pipe").path, 0o600) == 0)
        // A FIFO opened for reading would block forever: the scan must return.
        #expect(SecretScan.files(containing: ["TOKEN": secret], under: root).isEmpty)
    }
}
