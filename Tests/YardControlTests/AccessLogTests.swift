import Foundation
import Testing
import YardCore
import YardRouter

@testable import YardControl

@Suite("Access log buffer and store")
struct AccessLogTests {
    static func entry(_ path: String) -> AccessLogEntry {
        AccessLogEntry(
            timestamp: Date(), host: "app.test", method: "GET", path: path, status: 200, duration: .milliseconds(3),
            replicaID: "rep_1", bytesIn: 0, bytesOut: 10)
    }

    @Test func keepsAtMostItsCapacityAndCountsWhatItDropped() async {
        let buffer = AccessLogBuffer(capacity: 3)
        for index in 0..<5 { buffer.add(Self.entry("/\(index)")) }
        let (entries, dropped) = buffer.take()
        #expect(entries.map(\.path) == ["/0", "/1", "/2"])
        #expect(dropped == 2)
        // Emptied: room again, and the count starts over.
        buffer.add(Self.entry("/5"))
        let again = buffer.take()
        #expect(again.entries.map(\.path) == ["/5"] && again.dropped == 0)
    }

    @Test func signalsOnceABatchIsReadyAndEndsOnFinish() async {
        // No tick in the test's time: only a full batch wakes the writer.
        let buffer = AccessLogBuffer(capacity: 10, batchSize: 3, flushInterval: .seconds(3600))
        var arrivals = buffer.arrivals.makeAsyncIterator()
        for path in ["/a", "/b", "/c", "/d"] { buffer.add(Self.entry(path)) }
        #expect(await arrivals.next() != nil)
        #expect(buffer.take().entries.map(\.path) == ["/a", "/b", "/c", "/d"])
        buffer.finish()
        #expect(await arrivals.next() == nil)
    }

    @Test func theTickWakesTheWriterForFewerEntriesThanABatch() async {
        let buffer = AccessLogBuffer(capacity: 10, batchSize: 5, flushInterval: .milliseconds(10))
        var arrivals = buffer.arrivals.makeAsyncIterator()
        buffer.add(Self.entry("/only"))
        #expect(await arrivals.next() != nil)
        #expect(buffer.take().entries.map(\.path) == ["/only"])
        buffer.finish()
    }

    @Test func theStoreAppendsBatchesNumberedAfterEarlierLinesAndFollowersGetThem() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LogStore(directory: directory)
        store.append(deploymentID: "dep_1", kind: .http, stream: .system, message: "first")
        let follower = store.follow(deploymentID: "dep_1", kind: .http, closedWhenIdle: false)
        let request = HTTPRequestLog(
            host: "app.test", method: "GET", path: "/x", status: 200, durationMs: 1.5, upstream: nil, bytesIn: 0, bytesOut: 7)
        store.append(
            deploymentID: "dep_1", kind: .http,
            lines: ["/x", "/y"].map { _ in LogLine(seq: 0, timestamp: Date(), stream: .http, message: request.summary, http: request) })
        store.close(deploymentID: "dep_1", kind: .http)
        var followed: [LogLine] = []
        for await line in follower { followed.append(line) }
        #expect(followed.map(\.seq) == [1, 2, 3])
        let stored = store.lines(deploymentID: "dep_1", kind: .http)
        #expect(stored.map(\.seq) == [1, 2, 3])
        #expect(stored.last?.http == request)
        #expect(stored.last?.message == "GET app.test/x 200 1.5ms upstream=- in=0B out=7B")
    }
}

@Suite("Log rotation and retention")
struct LogRotationTests {
    @Test func aLogPastItsLimitIsRotatedKeepingOneOlderFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LogStore(directory: directory, limits: .init(maximumFileBytes: 4096))
        let message = String(repeating: "x", count: 200)
        for _ in 0..<100 { store.append(deploymentID: "dep_1", kind: .deploy, stream: .stdout, message: message) }
        let folder = directory.appendingPathComponent("dep_1")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["deploy.1.jsonl", "deploy.jsonl"])
        for file in files {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(file).path)[.size] as? Int)
            #expect(size <= 4096, "\(file) is \(size) bytes")
        }
        // What is kept reads in order and ends with the newest line; numbering never restarts.
        let lines = store.lines(deploymentID: "dep_1", kind: .deploy)
        #expect(lines.last?.seq == 100)
        #expect(lines.map(\.seq) == Array((101 - lines.count)...100))
        #expect(lines.count < 100)
    }

    @Test func pruneRemovesLogsNotWrittenForTheRetention() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LogStore(directory: directory, limits: .init(retention: .seconds(86_400)))
        store.append(deploymentID: "dep_old", kind: .build, stream: .stdout, message: "built")
        store.close(deploymentID: "dep_old", kind: .build)
        store.append(deploymentID: "dep_new", kind: .build, stream: .stdout, message: "built")
        store.close(deploymentID: "dep_new", kind: .build)
        store.append(deploymentID: "dep_open", kind: .deploy, stream: .stdout, message: "running")
        let old = directory.appendingPathComponent("dep_old/build.jsonl").path
        let twoDaysAgo = Date().addingTimeInterval(-2 * 86_400)
        try FileManager.default.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: old)
        try FileManager.default.setAttributes(
            [.modificationDate: twoDaysAgo], ofItemAtPath: directory.appendingPathComponent("dep_open/deploy.jsonl").path)

        #expect(store.prune() == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("dep_old").path))
        #expect(store.lines(deploymentID: "dep_new", kind: .build).count == 1)
        // A log still being written stays, however old its file's date.
        #expect(store.lines(deploymentID: "dep_open", kind: .deploy).count == 1)
    }

    @Test func closedLogsAreRememberedBoundedlyAndTheLatestStillEndFollowers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LogStore(directory: directory, limits: .default, closedMemory: 8)
        for index in 0..<100 {
            store.append(deploymentID: "dep_\(index)", kind: .build, stream: .stdout, message: "built \(index)")
            store.close(deploymentID: "dep_\(index)", kind: .build)
            #expect(store.rememberedClosedLogs <= 8, "after \(index + 1) closes")
        }
        #expect(store.rememberedClosedLogs >= 4)
        // The log closed last is still known closed: a follower that is not told the
        // deployment finished gets its lines and ends.
        var followed: [String] = []
        for await line in store.follow(deploymentID: "dep_99", kind: .build, closedWhenIdle: false) { followed.append(line.message) }
        #expect(followed == ["built 99"])
        // A forgotten one ends too for a follower told it finished, as the API asks for it.
        followed = []
        for await line in store.follow(deploymentID: "dep_0", kind: .build, closedWhenIdle: true) { followed.append(line.message) }
        #expect(followed == ["built 0"])
        // A log written again after its close is open, not closed.
        store.append(deploymentID: "dep_99", kind: .build, stream: .stdout, message: "again")
        let follower = store.follow(deploymentID: "dep_99", kind: .build, closedWhenIdle: false)
        store.append(deploymentID: "dep_99", kind: .build, stream: .stdout, message: "later")
        store.close(deploymentID: "dep_99", kind: .build)
        followed = []
        for await line in follower { followed.append(line.message) }
        #expect(followed == ["built 99", "again", "later"])
    }
}
