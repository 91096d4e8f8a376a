import Foundation
import Testing
import YardCore
import YardStore

@testable import YardControl

@Suite("backups")
struct BackupTests {
    func backup(_ id: String, _ trigger: String, minutesAgo: Double, status: BackupStatus = .succeeded) -> BackupRecord {
        BackupRecord(
            id: id, serviceID: "svc", environmentID: "env", trigger: trigger, status: status,
            startedAt: Date(timeIntervalSinceNow: -minutesAgo * 60))
    }

    @Test("retention removes the oldest scheduled backups beyond keep, never manual or running ones")
    func retention() {
        let all = [
            backup("s1", "scheduled", minutesAgo: 1), backup("m1", "manual", minutesAgo: 2), backup("s2", "scheduled", minutesAgo: 3),
            backup("s3", "scheduled", minutesAgo: 4, status: .failed), backup("r1", "scheduled", minutesAgo: 0, status: .running),
            backup("m2", "manual", minutesAgo: 10),
        ]
        #expect(BackupRetention.expired(all, keep: 2).map(\.id) == ["s3"])
        #expect(BackupRetention.expired(all, keep: 1).map(\.id) == ["s2", "s3"])
        #expect(BackupRetention.expired(all, keep: 5).isEmpty)
    }

    @Test("tables are counted from pg_restore's listing, not their data entries")
    func tableCount() {
        let listing = """
            ;
            ; Archive created at 2026-11-26 04:00:00 UTC
            ;     dbname: railway
            215; 1259 16385 TABLE public items postgres
            216; 1259 16390 TABLE public extra postgres
            3340; 0 16385 TABLE DATA public items postgres
            3341; 0 16390 TABLE DATA public extra postgres
            3190; 2606 16394 CONSTRAINT public items items_pkey postgres
            """
        #expect(PostgresTools.tableCount(inListing: listing) == 2)
    }

    @Test("the WAL archive is pruned from the oldest kept base backup's first segment")
    func startSegment() {
        let label = """
            START WAL LOCATION: 0/4000028 (file 000000020000000000000004)
            CHECKPOINT LOCATION: 0/4000060
            BACKUP METHOD: streamed
            """
        #expect(PostgresTools.startSegment(inBackupLabel: label) == "000000020000000000000004")
        #expect(PostgresTools.startSegment(inBackupLabel: "START WAL LOCATION: 0/4000028 (file ../../etc)") == nil)
        #expect(PostgresTools.startSegment(inBackupLabel: "") == nil)
    }

    @Test("recovery target times are UTC with microseconds")
    func timestamp() {
        let date = Date(timeIntervalSince1970: 1_795_000_000.25)
        #expect(PostgresTools.timestamp(date) == "2026-11-18 11:06:40.250000+00")
    }
}

/// The restore check against real servers: a damaged backup must fail it, with the reason.
@Suite("restore checks", .serialized)
struct RestoreCheckTests {
    func damaged(_ name: String) throws -> (BackupRecord, URL) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("yard-damaged-\(UUID().uuidString.prefix(8))-\(name)")
        try Data("PGDMP this is not a dump\n".utf8).write(to: file)
        let record = BackupRecord(
            id: "bak_damaged\(UUID().uuidString.prefix(6))", serviceID: "svc", environmentID: "env",
            trigger: "scheduled", status: .succeeded, startedAt: Date(), path: file.path, objects: 1)
        return (record, file)
    }

    @Test("a damaged postgres dump fails the check and the throwaway server is removed")
    func damagedDump() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: PostgresTools.binary("initdb")),
            "postgres is missing: apt-get install -y postgresql")
        let (record, file) = try damaged("dump")
        defer { try? FileManager.default.removeItem(at: file) }
        await #expect(throws: YardError.self) { try await RestoreCheck(kind: .postgres).run(record: record) }
        do {
            _ = try await RestoreCheck(kind: .postgres).run(record: record)
        } catch {
            #expect("\(error)".contains("pg_restore into a throwaway server failed"), "\(error)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-check-\(record.id)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path))
    }

    @Test("a damaged redis snapshot fails the check")
    func damagedSnapshot() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server"), "redis is missing: apt-get install -y redis-server")
        let (record, file) = try damaged("rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        await #expect(throws: YardError.self) { try await RestoreCheck(kind: .redis).run(record: record) }
    }
}
