import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard backup`: backups of a database service, their restore, and their schedule.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up a database service, list and restore its backups, schedule them.",
        subcommands: [BackupCreate.self, BackupList.self, BackupRestore.self, BackupSchedule.self]
    )
}

/// The database service: the argument, else `--service`, the folder's link, its name.
private func databaseScope(_ options: ClientOptions, _ name: String?) throws -> YardAPIClient.Scope {
    var scope = try options.serviceScope()
    if let name { scope.service = name }
    return scope
}

struct BackupCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Back a database service up now (postgres: pg_dump and a base backup for --to restores; redis: an RDB "
            + "snapshot), then test-restore it into a throwaway server.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The database service (default: --service, the folder's link, then the folder's name).")
    var serviceName: String?

    func run() async throws {
        try await reportingErrors {
            let scope = try databaseScope(options, serviceName)
            print("Backing up \(scope.service)…")
            Output.flush()
            let backup = try await options.client().createBackup(scope)
            if options.json { try Output.json(backup); return }
            BackupList.show(backup)
            if let problem = backup.problem { throw YardError(.unavailable, problem) }
        }
    }
}

struct BackupList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List a database service's backups, newest first, with their restore checks, and its schedule.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The database service (default: --service, the folder's link, then the folder's name).")
    var serviceName: String?

    func run() async throws {
        try await reportingErrors {
            let list = try await options.client().backups(try databaseScope(options, serviceName))
            if options.json { try Output.json(list); return }
            BackupSchedule.show(list.schedule)
            if list.backups.isEmpty { print("No backups yet: `yard backup create` makes one.") }
            for backup in list.backups { Self.show(backup) }
        }
    }

    static func show(_ backup: BackupView) {
        var line = "\(backup.id)  \(Output.time(backup.startedAt))  \(backup.trigger.padding(toLength: 9, withPad: " ", startingAt: 0))"
        line += "  \(backup.status.rawValue)"
        if let size = backup.sizeBytes { line += "  \(ByteSize.format(size))" }
        if let objects = backup.objects { line += "  \(objects) \(backup.pointInTime ? "tables" : "keys")" }
        if backup.pointInTime { line += "  point-in-time base" }
        if let check = backup.check { line += "  restore check \(check.rawValue)" }
        print(line)
        if let reason = backup.reason { print("    \(reason)") }
        if let reason = backup.checkReason { print("    check: \(reason)") }
    }
}

struct BackupRestore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into the database service (after confirming), or into a new service with --into; "
            + "postgres restores to a moment with --to.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The database service (default: --service, the folder's link, then the folder's name).")
    var serviceName: String?

    @Option(help: "The backup id (default: the newest; with --to, the newest base backup before the moment).")
    var backup: String?

    @Option(help: "Point-in-time recovery (postgres): a UTC moment such as 2026-11-23T10:00:00Z.")
    var to: String?

    @Option(help: "Restore into a new database service of this name, with its own credentials; the service is untouched.")
    var into: String?

    @Flag(name: .shortAndLong, help: "Do not ask for confirmation before replacing the service's data.")
    var yes = false

    func validate() throws {
        if let to { _ = try Self.moment(to) }
    }

    /// `2026-11-23T10:00:00Z`, with or without fractional seconds, or with an offset.
    static func moment(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        throw ValidationError("--to '\(text)' is not a moment: use ISO 8601 with a zone, e.g. 2026-11-23T10:00:00Z")
    }

    func run() async throws {
        try await reportingErrors {
            let scope = try databaseScope(options, serviceName)
            if into == nil, !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw YardError(
                        .invalidInput,
                        "restoring replaces the data of \(scope.service), and there is no terminal to confirm "
                            + "on: pass --yes, or --into NEW to restore into a new service")
                }
                print("Replace the data of \(scope.service) with \(to.map { "its state at \($0)" } ?? backup ?? "its newest backup")?")
                print("Type the service's name to confirm: ", terminator: "")
                Output.flush()
                guard let answer = readLine(), answer.trimmingCharacters(in: .whitespaces) == scope.service else {
                    throw YardError(.invalidInput, "not confirmed: nothing was restored (pass --yes to skip the question)")
                }
            }
            print("Restoring…")
            Output.flush()
            let result = try await options.client().restoreBackup(
                scope, BackupRestoreRequest(backup: backup, to: try to.map(Self.moment), into: into))
            if options.json { try Output.json(result); return }
            print(result.message)
        }
    }
}

struct BackupSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Back a database service up daily, weekly or monthly (at 00:00 UTC; weekly on Sundays, monthly on the 1st), "
            + "keeping the newest --keep scheduled backups; off stops it. Each is test-restored.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "daily, weekly, monthly or off.")
    var frequency: String

    @Argument(help: "The database service (default: --service, the folder's link, then the folder's name).")
    var serviceName: String?

    @Option(help: "Scheduled backups to keep (default \(7)); older ones are deleted. Manual backups are kept.")
    var keep: Int?

    func validate() throws {
        if frequency.lowercased() != "off" { _ = try BackupFrequency(argument: frequency) }
        if let keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
    }

    func run() async throws {
        try await reportingErrors {
            let chosen = frequency.lowercased() == "off" ? nil : try BackupFrequency(argument: frequency)
            let list = try await options.client().setBackupSchedule(
                try databaseScope(options, serviceName), BackupScheduleRequest(frequency: chosen, keep: keep))
            if options.json { try Output.json(list); return }
            Self.show(list.schedule)
        }
    }

    static func show(_ schedule: BackupScheduleView?) {
        guard let schedule else {
            print("Schedule: off (`yard backup schedule daily` turns it on)")
            return
        }
        print(
            "Schedule: \(schedule.frequency.rawValue), keeping \(schedule.keep) scheduled backups"
                + (schedule.nextAt.map { ", next at \(Output.time($0))" } ?? ""))
    }
}
