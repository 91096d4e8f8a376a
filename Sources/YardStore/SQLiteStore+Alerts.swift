import Foundation
import GRDB
import YardCore

/// An alert channel with its target (and a webhook's secret) opened.
public struct AlertChannelRecord: Sendable, Equatable {
    public var id: String
    public var projectID: String
    public var name: String
    public var kind: AlertChannelKind
    /// The URL or the email address, in clear (stored sealed).
    public var target: String
    /// A webhook channel's signing secret, in clear (stored sealed).
    public var secret: String?

    public init(id: String, projectID: String, name: String, kind: AlertChannelKind, target: String, secret: String?) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.kind = kind
        self.target = target
        self.secret = secret
    }
}

/// An alert rule and its state.
public struct AlertRuleRecord: Sendable, Equatable {
    public var id: String
    public var projectID: String
    public var serviceID: String
    public var environmentID: String
    public var channelID: String
    public var kind: AlertKind
    public var threshold: AlertThreshold?
    public var overSeconds: Int
    public var repeatSeconds: Int
    public var state: AlertState
    public var firedAt: Date?
    public var notifiedAt: Date?
    public var resolvedAt: Date?
    public var lastEventAt: Date?
    public var detail: String?

    public init(
        id: String, projectID: String, serviceID: String, environmentID: String, channelID: String, kind: AlertKind,
        threshold: AlertThreshold?, overSeconds: Int, repeatSeconds: Int, state: AlertState = .pending
    ) {
        self.id = id
        self.projectID = projectID
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.channelID = channelID
        self.kind = kind
        self.threshold = threshold
        self.overSeconds = overSeconds
        self.repeatSeconds = repeatSeconds
        self.state = state
    }
}

extension SQLiteStore {
    /// Migration `020_alerts20`.
    static func createAlertTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE alert_channel (
                    id TEXT PRIMARY KEY,
                    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    target TEXT NOT NULL,
                    secret TEXT,
                    created_at DATETIME NOT NULL,
                    UNIQUE (project_id, name)
                );
                CREATE TABLE alert_rule (
                    id TEXT PRIMARY KEY,
                    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                    service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                    environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                    channel_id TEXT NOT NULL REFERENCES alert_channel(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    threshold_value REAL,
                    threshold_unit TEXT,
                    over_seconds INTEGER NOT NULL,
                    repeat_seconds INTEGER NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    fired_at DATETIME,
                    notified_at DATETIME,
                    resolved_at DATETIME,
                    last_event_at DATETIME,
                    detail TEXT,
                    created_at DATETIME NOT NULL
                );
                CREATE INDEX alert_rule_service ON alert_rule (service_id, environment_id);
                """)
    }

    /// Stores a new channel, its target and secret sealed to it. A name already used in the
    /// project is refused.
    public func createAlertChannel(_ channel: AlertChannelRecord) throws {
        let target = try cipher.seal(channel.target, for: .alertChannel(channelID: channel.id, field: "target"))
        let secret = try channel.secret.map { try cipher.seal($0, for: .alertChannel(channelID: channel.id, field: "secret")) }
        try write { db in
            let taken =
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM alert_channel WHERE project_id = ? AND name = ?)",
                    arguments: [channel.projectID, channel.name]) ?? false
            guard !taken else {
                throw YardError(
                    .conflict, "alert channel '\(channel.name)' already exists: `yard alerts channel rm \(channel.name)` first, or pick another name")
            }
            try db.execute(
                sql: "INSERT INTO alert_channel (id, project_id, name, kind, target, secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [channel.id, channel.projectID, channel.name, channel.kind.rawValue, target, secret, Date()])
        }
    }

    public func alertChannels(projectID: String) throws -> [AlertChannelRecord] {
        let rows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alert_channel WHERE project_id = ? ORDER BY name", arguments: [projectID])
        }
        return try rows.map(openChannel)
    }

    /// A channel by name or id, with a clear error naming the project's channels.
    public func alertChannel(projectID: String, _ nameOrID: String) throws -> AlertChannelRecord {
        let row = try pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM alert_channel WHERE project_id = ? AND (name = ? OR id = ?)",
                arguments: [projectID, nameOrID, nameOrID])
        }
        guard let row else {
            let known = (try? alertChannels(projectID: projectID).map(\.name)) ?? []
            throw YardError(
                .notFound,
                "no alert channel '\(nameOrID)' in this project"
                    + (known.isEmpty ? ": add one with `yard alerts channel add NAME --webhook URL`" : " (channels: \(known.joined(separator: ", ")))"))
        }
        return try openChannel(row)
    }

    public func alertChannel(id: String) throws -> AlertChannelRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM alert_channel WHERE id = ?", arguments: [id]) }.map(openChannel)
    }

    /// Removes a channel and the rules that send to it.
    public func deleteAlertChannel(id: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM alert_rule WHERE channel_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM alert_channel WHERE id = ?", arguments: [id])
        }
    }

    private func openChannel(_ row: Row) throws -> AlertChannelRecord {
        let id: String = row["id"]
        let secret: String? = row["secret"]
        return AlertChannelRecord(
            id: id, projectID: row["project_id"], name: row["name"], kind: AlertChannelKind(rawValue: row["kind"]) ?? .webhook,
            target: try cipher.open(row["target"], for: .alertChannel(channelID: id, field: "target")),
            secret: try secret.map { try cipher.open($0, for: .alertChannel(channelID: id, field: "secret")) })
    }

    public func createAlertRule(_ rule: AlertRuleRecord) throws {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO alert_rule (id, project_id, service_id, environment_id, channel_id, kind, threshold_value, threshold_unit,
                        over_seconds, repeat_seconds, state, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    rule.id, rule.projectID, rule.serviceID, rule.environmentID, rule.channelID, rule.kind.rawValue, rule.threshold?.value,
                    rule.threshold?.unit.rawValue, rule.overSeconds, rule.repeatSeconds, rule.state.rawValue, Date(),
                ])
        }
    }

    /// Rules of a project (every service and environment), or of every project.
    public func alertRules(projectID: String? = nil) throws -> [AlertRuleRecord] {
        try pool.read { db -> [Row] in
            if let projectID {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM alert_rule WHERE project_id = ? ORDER BY created_at, id", arguments: [projectID])
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM alert_rule ORDER BY created_at, id")
        }.map(Self.rule)
    }

    public func alertRule(id: String) throws -> AlertRuleRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM alert_rule WHERE id = ?", arguments: [id]) }.map(Self.rule)
    }

    public func deleteAlertRule(id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM alert_rule WHERE id = ?", arguments: [id]) }
    }

    /// Saves a rule's state (the engine's transitions); a rule removed meanwhile stays removed.
    public func saveAlertRuleState(_ rule: AlertRuleRecord) throws {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE alert_rule SET state = ?, fired_at = ?, notified_at = ?, resolved_at = ?, last_event_at = ?, detail = ?
                    WHERE id = ?
                    """,
                arguments: [
                    rule.state.rawValue, rule.firedAt, rule.notifiedAt, rule.resolvedAt, rule.lastEventAt, rule.detail, rule.id,
                ])
        }
    }

    private static func rule(_ row: Row) -> AlertRuleRecord {
        var rule = AlertRuleRecord(
            id: row["id"], projectID: row["project_id"], serviceID: row["service_id"], environmentID: row["environment_id"],
            channelID: row["channel_id"], kind: AlertKind(rawValue: row["kind"]) ?? .deploymentFailed,
            threshold: (row["threshold_value"] as Double?).map {
                AlertThreshold(value: $0, unit: AlertThreshold.Unit(rawValue: (row["threshold_unit"] as String?) ?? "") ?? .percent)
            },
            overSeconds: row["over_seconds"], repeatSeconds: row["repeat_seconds"],
            state: AlertState(rawValue: row["state"]) ?? .pending)
        rule.firedAt = row["fired_at"]
        rule.notifiedAt = row["notified_at"]
        rule.resolvedAt = row["resolved_at"]
        rule.lastEventAt = row["last_event_at"]
        rule.detail = row["detail"]
        return rule
    }
}
