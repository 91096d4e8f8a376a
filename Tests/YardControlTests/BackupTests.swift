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
            startedAt: Date(timeIntervalSinceNow: -minutesAgo * 60), path: "/\(id).dump")
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

    @Test("a copied environment starts from the newest backup that succeeded, passed its check and still has its file")
    func selection() {
        var failedCheck = backup("c1", "manual", minutesAgo: 1)
        failedCheck.checkStatus = .failed
        var gone = backup("g1", "manual", minutesAgo: 2)
        gone.path = "/gone.dump"
        var good = backup("s1", "scheduled", minutesAgo: 3)
        good.checkStatus = .passed
        var older = backup("m1", "manual", minutesAgo: 4)
        older.checkStatus = .passed
        let all = [backup("r1", "manual", minutesAgo: 0, status: .running), failedCheck, gone, good, older]
        let exists: (String) -> Bool = { $0 != "/gone.dump" }
        #expect(BackupSelection.newestRestorable(all, fileExists: exists)?.id == "s1")
        #expect(BackupSelection.newestRestorable([older], fileExists: exists)?.id == "m1")
        #expect(BackupSelection.newestRestorable([failedCheck, gone], fileExists: exists) == nil)
        #expect(BackupSelection.newestRestorable([], fileExists: exists) == nil)
    }

    @Test("a deleted environment's backup files go, every file of each; other environments' stay")
    func removeFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-backup-files-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let postgres = directory.appendingPathComponent("svc_pg")
        let redis = directory.appendingPathComponent("svc_redis")
        for folder in [postgres.appendingPathComponent("bak_staging.base"), postgres.appendingPathComponent("bak_prod.base"), redis] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        for file in [
            "svc_pg/bak_staging.dump", "svc_pg/bak_staging.base/base.tar.gz", "svc_pg/bak_failed.dump", "svc_pg/bak_prod.dump",
            "svc_pg/bak_prod.base/base.tar.gz", "svc_pg/bak_stagingx.dump", "svc_redis/bak_r.rdb",
        ] {
            try Data("x".utf8).write(to: directory.appendingPathComponent(file))
        }
        var staging = backup("bak_staging", "manual", minutesAgo: 1)
        staging.serviceID = "svc_pg"
        var failed = backup("bak_failed", "manual", minutesAgo: 2, status: .failed)
        failed.serviceID = "svc_pg"
        var redisBackup = backup("bak_r", "scheduled", minutesAgo: 3)
        redisBackup.serviceID = "svc_redis"
        Orchestrator.removeFiles(of: [staging, failed, redisBackup], in: directory)
        let left = try FileManager.default.contentsOfDirectory(atPath: postgres.path).sorted()
        #expect(left == ["bak_prod.base", "bak_prod.dump", "bak_stagingx.dump"])
        #expect(FileManager.default.fileExists(atPath: postgres.appendingPathComponent("bak_prod.base/base.tar.gz").path))
        #expect(!FileManager.default.fileExists(atPath: redis.path), "an emptied service folder goes too")
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
