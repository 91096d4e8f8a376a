import Foundation
import Synchronization
import YardCore

/// A signed-in browser: its id (the cookie), its CSRF token, when it expires.
public struct DashboardSession: Sendable, Equatable {
    public var id: String
    public var csrfToken: String
    public var expiresAt: Date
}

/// Sessions live in memory only: a restart of the server signs everyone out. Each lasts
/// `lifetime` from sign-in; an expired one is forgotten when next seen.
public final class DashboardSessions: Sendable {
    public let lifetime: Duration
    private let sessions = Mutex<[String: DashboardSession]>([:])
    private let now: @Sendable () -> Date

    public init(lifetime: Duration = .seconds(8 * 3600), now: @escaping @Sendable () -> Date = { Date() }) {
        self.lifetime = lifetime
        self.now = now
    }

    /// A new session with fresh random ids (256 bits each).
    public func create() -> DashboardSession {
        let session = DashboardSession(
            id: ContentHash.randomToken(), csrfToken: ContentHash.randomToken(),
            expiresAt: now().addingTimeInterval(Double(lifetime.components.seconds)))
        sessions.withLock { sessions in
            let current = now()
            sessions = sessions.filter { $0.value.expiresAt > current }
            sessions[session.id] = session
        }
        return session
    }

    /// The live session with this id, if any.
    public func find(_ id: String) -> DashboardSession? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expiresAt > now() else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    public func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    public var count: Int { sessions.withLock { $0.count } }
}
