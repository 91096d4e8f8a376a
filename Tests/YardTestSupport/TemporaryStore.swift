import Foundation
import YardStore

/// A fresh data directory with an `SQLiteStore` in it, removed by `remove()`.
public struct TemporaryStore: Sendable {
    public let directory: URL
    public let store: SQLiteStore

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(directory: directory)
    }

    /// The same data directory opened again, as a restarted server would.
    public func reopened() throws -> TemporaryStore {
        try TemporaryStore(directory: directory)
    }

    private init(directory: URL) throws {
        self.directory = directory
        store = try SQLiteStore(directory: directory)
    }

    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
