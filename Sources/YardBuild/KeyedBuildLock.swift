import Foundation
import YardCore

/// One holder per key at a time, the rest waiting in arrival order: two builds that need the
/// same missing environment image build it once (the second waits, then finds it in the store).
public actor KeyedBuildLock {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    /// Environment images, per image store and environment name, for every builder of this process.
    public static let environments = KeyedBuildLock()

    /// Runs `body` while holding `key`; a caller that finds it held waits for its turn.
    public nonisolated func withLock<T: Sendable>(
        _ key: String, _ body: () async throws(YardError) -> T
    ) async throws(YardError) -> T {
        await acquire(key)
        do {
            let value = try await body()
            await release(key)
            return value
        } catch {
            await release(key)
            throw error
        }
    }

    /// Whether some caller holds `key` now (for tests and logs).
    public func isHeld(_ key: String) -> Bool { held.contains(key) }

    private func acquire(_ key: String) async {
        guard held.contains(key) else {
            held.insert(key)
            return
        }
        // Ownership passes straight from the releaser to this waiter: `held` keeps the key.
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        guard var queue = waiters[key], !queue.isEmpty else {
            held.remove(key)
            return
        }
        let next = queue.removeFirst()
        waiters[key] = queue.isEmpty ? nil : queue
        next.resume()
    }
}
