import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardControl

/// Archives made by the system's GNU tar from real folders, read by `TarEntryCheck`.
@Suite("Tar entry check of uploads")
struct TarEntryCheckTests {
    /// A scratch folder with `build` run in it, archived by `tar -cf - <arguments>`.
    static func archive(_ arguments: [String], build: (URL) throws -> Void) throws -> [UInt8] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tar-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try build(folder)
        let output = folder.appendingPathComponent("out.tar")
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        process.currentDirectoryURL = folder
        process.arguments = ["-cf", output.path, "--exclude=out.tar"] + arguments
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "tar failed")
        return Array(try Data(contentsOf: output))
    }

    static func write(_ text: String, _ name: String, in folder: URL) throws {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Feeds the archive in `chunk`-byte pieces; returns the check or its refusal.
    static func check(
        _ bytes: [UInt8], limits: TarEntryCheck.Limits = .default, chunk: Int = 4096
    ) -> Result<TarEntryCheck, TarEntryCheck.Refusal> {
        var entryCheck = TarEntryCheck(limits: limits)
        do throws(TarEntryCheck.Refusal) {
            var offset = 0
            while offset < bytes.count {
                try entryCheck.feed(bytes[offset..<min(offset + chunk, bytes.count)])
                offset += chunk
            }
            try entryCheck.finish()
            return .success(entryCheck)
        } catch {
            return .failure(error)
        }
    }

    static func refusal(
        _ bytes: [UInt8], limits: TarEntryCheck.Limits = .default
    ) -> TarEntryCheck.Refusal? {
        if case .failure(let refusal) = check(bytes, limits: limits) { return refusal }
        return nil
    }

    @Test func filesFoldersAndLinksPassWithLongNamesInEitherFormat() throws {
        let long = String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 150) + ".txt"
        for format in ["gnu", "posix"] {
            let bytes = try Self.archive(["--format=\(format)", "."]) { folder in
                try Self.write("hello", "a/b.txt", in: folder)
                try Self.write(String(repeating: "x", count: 1000), long, in: folder)
                try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link").path, withDestinationPath: "a/b.txt")
            }
            for chunk in [7, 512, 100_000] {
                let result = Self.check(bytes, chunk: chunk)
                let entryCheck = try result.get()
                // ., a, a/b.txt, the long folder, the long file, link
                #expect(entryCheck.entries == 6, "\(format), chunk \(chunk)")
                #expect(entryCheck.bytes == 1005)
                #expect(entryCheck.finished)
            }
        }
    }

    @Test func fifosDevicesAndHardLinksAreRefusedByName() throws {
        let fifo = try Self.archive(["."]) { folder in
            #expect(mkfifo(folder.appendingPathComponent("pipe").path, 0o644) == 0)
        }
        #expect(Self.refusal(fifo) == .entryType(name: "./pipe", kind: "FIFO"))
        let hard = try Self.archive(["a", "b"]) { folder in
            try Self.write("x", "a", in: folder)
            try FileManager.default.linkItem(at: folder.appendingPathComponent("a"), to: folder.appendingPathComponent("b"))
        }
        #expect(Self.refusal(hard) == .entryType(name: "b", kind: "hard link"))
        try #require(getuid() == 0, "making a device node needs root: run the tests as root")
        let device = try Self.archive(["."]) { folder in
            #expect(mknod(folder.appendingPathComponent("null").path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        }
        #expect(Self.refusal(device) == .entryType(name: "./null", kind: "character device"))
        #expect(TarEntryCheck.Refusal.entryType(name: "./null", kind: "character device").description
            .contains("only regular files, folders and symlinks"))
    }

    @Test func sizeAndEntryLimitsStopTheCheckAndSayWhichOne() throws {
        let bytes = try Self.archive(["."]) { folder in
            for index in 0..<20 { try Self.write(String(repeating: "z", count: 10_000), "f\(index)", in: folder) }
        }
        let small = TarEntryCheck.Limits(maximumBytes: 50_000, maximumEntries: 1000)
        #expect(Self.refusal(bytes, limits: small) == .tooManyBytes(limit: 50_000))
        let few = TarEntryCheck.Limits(maximumBytes: 1 << 30, maximumEntries: 10)
        #expect(Self.refusal(bytes, limits: few) == .tooManyEntries(limit: 10))
        #expect(TarEntryCheck.Refusal.tooManyBytes(limit: 64 << 20).description.contains("more than 64 MiB (the server's --max-source-size)"))
        #expect(TarEntryCheck.Refusal.tooManyEntries(limit: 10).description.contains("--max-source-entries"))
        #expect((try? Self.check(bytes, limits: .default).get())?.bytes == 200_000)
    }

    @Test func namesThatClimbOrWriteThroughTheArchivesOwnLinksAreRefused() throws {
        // `link -> ..` then `link/escaped`: GNU tar would be asked to write through the link.
        let through = try Self.archive(["link", "--transform=s,^real,link,", "real/escaped"]) { folder in
            try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link").path, withDestinationPath: "..")
            try Self.write("x", "real/escaped", in: folder)
        }
        #expect(Self.refusal(through) == .throughSymlink(name: "link/escaped", link: "link"))
        let climbing = try Self.archive(["-P", "--transform=s,^,../,", "a"]) { folder in
            try Self.write("x", "a", in: folder)
        }
        #expect(Self.refusal(climbing) == .unsafeName(name: "../a"))
    }

    @Test func aTruncatedOrCorruptArchiveIsMalformed() throws {
        let bytes = try Self.archive(["."]) { folder in try Self.write(String(repeating: "q", count: 5000), "f", in: folder) }
        guard case .failure(.malformed) = Self.check(Array(bytes.prefix(1024 + 100))) else {
            Issue.record("a truncated archive passed")
            return
        }
        var corrupt = bytes
        corrupt[0] ^= 0xFF
        guard case .failure(.malformed) = Self.check(corrupt) else {
            Issue.record("a header with a wrong checksum passed")
            return
        }
    }

    @Test func extractRefusesAnUploadWithALinkOutOfIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tar-extract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("src"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("src/sub").path, withDestinationPath: "../..")
        let archive = folder.appendingPathComponent("up.tar.gz")
        let tar = ChildProcess()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["-czf", archive.path, "-C", folder.appendingPathComponent("src").path, "."]
        try tar.run()
        tar.waitUntilExit()
        do {
            try SourceArchive.extract(archive, into: folder.appendingPathComponent("out"))
            Issue.record("an upload with a link out of it was unpacked")
        } catch let error as YardError {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("'sub' -> '../..'"), "\(error.message)")
        }
    }
}
