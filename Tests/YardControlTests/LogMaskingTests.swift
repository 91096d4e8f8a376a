import Foundation
import Testing
import YardControl
import YardCore

@Suite("Log masking of sealed values")
struct LogMaskingTests {
    @Test("a deployment's sealed values are written as *** in every kind of its log, also in batches; other deployments are untouched")
    func masksEveryLineOfTheDeployment() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-logmask-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LogStore(directory: directory)
        let password = "Zq81nRbW0dXkT2pL"
        store.mask(deploymentID: "dep_a", values: [password, "x"])
        store.append(deploymentID: "dep_a", kind: .deploy, stream: .stdout, message: "connecting to postgresql://u:\(password)@h/db")
        store.append(deploymentID: "dep_a", kind: .build, stream: .stderr, message: "echo \(password)")
        store.append(
            deploymentID: "dep_a", kind: .http,
            lines: [LogLine(seq: 0, timestamp: Date(), stream: .stdout, message: "GET /?token=\(password)")])
        store.append(deploymentID: "dep_b", kind: .deploy, stream: .stdout, message: "not sealed here: \(password)")

        #expect(store.lines(deploymentID: "dep_a", kind: .deploy).map(\.message) == ["connecting to postgresql://u:***@h/db"])
        #expect(store.lines(deploymentID: "dep_a", kind: .build).map(\.message) == ["echo ***"])
        #expect(store.lines(deploymentID: "dep_a", kind: .http).map(\.message) == ["GET /?token=***"])
        // Too short to mask ("x"): left alone rather than rewriting every x.
        store.append(deploymentID: "dep_a", kind: .deploy, stream: .stdout, message: "xx")
        #expect(store.lines(deploymentID: "dep_a", kind: .deploy).last?.message == "xx")
        #expect(store.lines(deploymentID: "dep_b", kind: .deploy).map(\.message) == ["not sealed here: \(password)"])
        // On disk too.
        let files =
            FileManager.default.enumerator(atPath: directory.appendingPathComponent("dep_a").path)?.compactMap { $0 as? String } ?? []
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent("dep_a/\(file)"), encoding: .utf8)
            #expect(!text.contains(password), "\(file)")
        }
    }
}
