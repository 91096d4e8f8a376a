import Foundation
import Synchronization
import YardCore

/// Persists every build, deploy and HTTP access log line of a deployment as JSON lines under
/// `<data>/logs/<deployment>/<kind>.jsonl`, and hands new lines to followers.
///
/// A line is written to the file before `append` returns, so a crash of the platform
/// after that loses nothing that was acknowledged.
///
/// Bounded: a log past `Limits.maximumFileBytes` is rotated (the full file becomes
/// `<kind>.1.jsonl`, replacing the previous one, so a log keeps at most twice the limit), and
/// `prune` removes log files not written for `Limits.retention`.
public final class LogStore: Sendable {
    public struct Limits: Sendable, Equatable {
        public var maximumFileBytes: Int
        public var retention: Duration

        public init(maximumFileBytes: Int = 64 << 20, retention: Duration = .seconds(30 * 86_400)) {
            self.maximumFileBytes = maximumFileBytes
            self.retention = retention
        }

        public static let `default` = Limits()

        /// How often `prune` runs: hourly, or at half the retention when that is shorter (a
        /// few seconds at least), so a short `--log-retention` holds within half its length.
        public var pruneInterval: Duration {
            min(.seconds(3600), max(.seconds(2), retention / 2))
        }
    }

    private struct Key: Hashable {
        var deploymentID: String
        var kind: LogKind
    }

    private struct OpenLog {
        var handle: FileHandle
        var nextSeq: Int
        var bytes: Int
    }

    private struct State {
        var open: [Key: OpenLog] = [:]
        var followers: [Key: [UUID: AsyncStream<LogLine>.Continuation]] = [:]
        /// Logs closed lately, each with the order it closed in, so a follower that arrives
        /// just after the close still ends. Bounded by `closedMemory`: the oldest are forgotten
        /// (a follower of a long-finished deployment asks with `closedWhenIdle`).
        var closed: [Key: Int] = [:]
        var closings = 0
        /// Sealed values each deployment's lines must not show.
        var maskers: [String: SecretMasker] = [:]
    }

    private let directory: URL
    public let limits: Limits
    private let state = Mutex(State())
    private let encoder = YardJSON.encoder()
    /// How many closed logs are remembered at most.
    let closedMemory: Int

    public init(directory: URL, limits: Limits = .default) {
        self.directory = directory
        self.limits = limits
        self.closedMemory = 4096
    }

    init(directory: URL, limits: Limits, closedMemory: Int) {
        self.directory = directory
        self.limits = limits
        self.closedMemory = max(1, closedMemory)
    }

    /// How many closed logs are remembered now (for tests).
    var rememberedClosedLogs: Int { state.withLock { $0.closed.count } }

    private func fileURL(_ key: Key) -> URL {
        directory.appendingPathComponent(key.deploymentID).appendingPathComponent("\(key.kind.rawValue).jsonl")
    }

    /// Where the log's previous lines went at its last rotation.
    private func rotatedURL(_ key: Key) -> URL {
        directory.appendingPathComponent(key.deploymentID).appendingPathComponent("\(key.kind.rawValue).1.jsonl")
    }

    /// Writes `data` to the log, rotating it first when it would pass the size limit.
    private func write(_ data: Data, to log: inout OpenLog, _ key: Key) throws {
        if log.bytes > 0, log.bytes + data.count > limits.maximumFileBytes {
            try log.handle.close()
            let rotated = rotatedURL(key)
            try? FileManager.default.removeItem(at: rotated)
            try FileManager.default.moveItem(at: fileURL(key), to: rotated)
            FileManager.default.createFile(atPath: fileURL(key).path, contents: nil)
            log.handle = try FileHandle(forWritingTo: fileURL(key))
            log.bytes = 0
        }
        try log.handle.write(contentsOf: data)
        log.bytes += data.count
    }

    /// Removes every log file not written since `retention` before `now` (and folders left
    /// empty); logs open for writing stay. Returns how many files went.
    @discardableResult
    public func prune(now: Date = Date()) -> Int {
        let cutoff = now.addingTimeInterval(-Double(limits.retention.components.seconds))
        let manager = FileManager.default
        return state.withLock { state in
            let open = Set(state.open.keys.flatMap { [fileURL($0).path, rotatedURL($0).path] })
            var removed = 0
            for deployment in (try? manager.contentsOfDirectory(atPath: directory.path)) ?? [] {
                let folder = directory.appendingPathComponent(deployment)
                let files = (try? manager.contentsOfDirectory(atPath: folder.path)) ?? []
                for name in files where name.hasSuffix(".jsonl") {
                    let path = folder.appendingPathComponent(name).path
                    guard !open.contains(path),
                        let modified = (try? manager.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                        modified < cutoff
                    else { continue }
                    if (try? manager.removeItem(atPath: path)) != nil { removed += 1 }
                }
                if ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? ["?"]).isEmpty {
                    try? manager.removeItem(at: folder)
                }
            }
            return removed
        }
    }

    /// From now on, `values` (sealed variable values) are written as `***` in every line of
    /// the deployment's logs, whatever prints them.
    public func mask(deploymentID: String, values: some Sequence<String>) {
        let masker = SecretMasker(values)
        state.withLock { state in
            state.maskers[deploymentID] = masker.isEmpty ? nil : masker
        }
    }

    /// Appends one line; never throws to the caller, because losing the ability to log must
    /// not stop a deployment (the failure is reported on stderr instead).
    public func append(deploymentID: String, kind: LogKind, stream: LogLine.Stream, replica: String? = nil, message: String) {
        let key = Key(deploymentID: deploymentID, kind: kind)
        state.withLock { state in
            do {
                var log = try openLog(key, in: &state)
                let message = state.maskers[deploymentID]?.mask(message) ?? message
                let line = LogLine(seq: log.nextSeq, timestamp: Date(), stream: stream, replica: replica, message: message)
                var data = try encoder.encode(line)
                data.append(0x0A)
                try write(data, to: &log, key)
                log.nextSeq += 1
                state.open[key] = log
                for continuation in state.followers[key, default: [:]].values {
                    continuation.yield(line)
                }
            } catch {
                FileHandle.standardError.write(Data("switchyard: cannot write log of \(deploymentID): \(error)\n".utf8))
            }
        }
    }

    /// Appends several lines in one write (the access log's batches); their `seq` is
    /// assigned here. Never throws, like `append`.
    public func append(deploymentID: String, kind: LogKind, lines: [LogLine]) {
        guard !lines.isEmpty else { return }
        let key = Key(deploymentID: deploymentID, kind: kind)
        state.withLock { state in
            do {
                var log = try openLog(key, in: &state)
                var data = Data()
                var numbered: [LogLine] = []
                numbered.reserveCapacity(lines.count)
                let masker = state.maskers[deploymentID]
                for var line in lines {
                    line.seq = log.nextSeq + numbered.count
                    if let masker { line.message = masker.mask(line.message) }
                    data.append(try encoder.encode(line))
                    data.append(0x0A)
                    numbered.append(line)
                }
                try write(data, to: &log, key)
                log.nextSeq += numbered.count
                state.open[key] = log
                for continuation in state.followers[key, default: [:]].values {
                    for line in numbered { continuation.yield(line) }
                }
            } catch {
                FileHandle.standardError.write(Data("switchyard: cannot write log of \(deploymentID): \(error)\n".utf8))
            }
        }
    }

    /// Marks a log finished: its followers' streams end once they have every line.
    public func close(deploymentID: String, kind: LogKind) {
        let key = Key(deploymentID: deploymentID, kind: kind)
        let followers = state.withLock { state in
            state.closings += 1
            state.closed[key] = state.closings
            if state.closed.count > closedMemory {
                // Forget the oldest half at once, so a long run of closes sorts rarely.
                let forgotten = state.closed.sorted { $0.value < $1.value }.prefix(state.closed.count - closedMemory / 2)
                for (old, _) in forgotten { state.closed.removeValue(forKey: old) }
            }
            if let log = state.open.removeValue(forKey: key) {
                try? log.handle.close()
            }
            return state.followers.removeValue(forKey: key) ?? [:]
        }
        // Outside the lock: finishing runs the stream's onTermination, which takes it.
        for continuation in followers.values {
            continuation.finish()
        }
    }

    /// Every line stored so far.
    public func lines(deploymentID: String, kind: LogKind) -> [LogLine] {
        let key = Key(deploymentID: deploymentID, kind: kind)
        return state.withLock { _ in readLines(key) }
    }

    /// The stored lines, then new ones as they arrive; ends when the log is closed (or at
    /// once after the stored lines, if it already was), or when the consumer stops.
    public func follow(deploymentID: String, kind: LogKind, closedWhenIdle: Bool) -> AsyncStream<LogLine> {
        let key = Key(deploymentID: deploymentID, kind: kind)
        let (stream, continuation) = AsyncStream<LogLine>.makeStream(bufferingPolicy: .unbounded)
        let id = UUID()
        state.withLock { state in
            // Read and register under one lock, so no line is missed or repeated.
            for line in readLines(key) { continuation.yield(line) }
            if state.closed[key] != nil || (closedWhenIdle && state.open[key] == nil) {
                continuation.finish()
            } else {
                state.followers[key, default: [:]][id] = continuation
            }
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { state in _ = state.followers[key]?.removeValue(forKey: id) }
        }
        return stream
    }

    private func openLog(_ key: Key, in state: inout State) throws -> OpenLog {
        if let log = state.open[key] { return log }
        let url = fileURL(key)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let existing = readLines(key)
        if !FileManager.default.fileExists(atPath: url.path) {
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: url)
        let size = try handle.seekToEnd()
        let log = OpenLog(handle: handle, nextSeq: (existing.last?.seq ?? 0) + 1, bytes: Int(size))
        state.open[key] = log
        state.closed.removeValue(forKey: key)
        return log
    }

    /// The rotated lines, then the current file's.
    private func readLines(_ key: Key) -> [LogLine] {
        let decoder = YardJSON.decoder()
        return [rotatedURL(key), fileURL(key)].flatMap { url -> [LogLine] in
            guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
            // A torn last line (crash mid-write) is skipped rather than failing the whole log.
            return data.split(separator: 0x0A).compactMap { try? decoder.decode(LogLine.self, from: $0) }
        }
    }
}
