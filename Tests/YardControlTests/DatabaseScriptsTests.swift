import Testing
import YardControl
import YardCore

@Suite("database start scripts")
struct DatabaseScriptsTests {
    /// The SHA-256 and length of each script as `YardCore.DatabaseKind.startScript` had it
    /// on main (f3341c4), measured before the move: the move changed no byte.
    static let pinned: [DatabaseKind: (sha256: String, bytes: Int)] = [
        .postgres: ("c2e5a1801151cd41d34c6e2d1d98ecdeb7edccf871e0ff17832303e38daf7375", 2335),
        .redis: ("79ad6f3d588d19ab6abe0ff00e86fbb137aeae073273e35395b167dd520a1d8b", 367),
        .mysql: ("191409a82fa5cd551be9b428fb248c9c0c25cdcaed27b66ce5c22aef4bf77d10", 1398),
    ]

    @Test("each script is byte for byte the one YardCore had before it moved", arguments: DatabaseKind.allCases)
    func unchanged(kind: DatabaseKind) throws {
        let script = DatabaseScripts.startScript(for: kind)
        let pinned = try #require(Self.pinned[kind])
        #expect(script.utf8.count == pinned.bytes)
        #expect(ContentHash.sha256(script) == pinned.sha256)
    }

    @Test("the postgres start script archives WAL into the volume and allows base backups")
    func postgresArchives() {
        let script = DatabaseScripts.startScript(for: .postgres)
        #expect(script.contains("archive_mode = on"))
        #expect(script.contains("$RAILWAY_VOLUME_MOUNT_PATH/wal-archive"))
        #expect(script.contains("host replication all 0.0.0.0/0 scram-sha-256"))
        #expect(script.contains("include_if_exists = 'yard-recovery.conf'"))
    }
}
