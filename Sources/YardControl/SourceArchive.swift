import Foundation
import YardCore

/// Unpacks an uploaded source tarball with the system's `tar`.
enum SourceArchive {
    /// `chown -R uid:uid directory`.
    static func changeOwner(of directory: URL, to uid: UInt32) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["chown", "-R", "\(uid):\(uid)", directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw YardError(.internal, "cannot hand \(directory.path) to the build user (chown failed)")
        }
    }

    /// Unpacks `archive` (a .tar.gz) into `directory` after `TarEntryCheck` read every
    /// header, then refuses the result if a symlink in it leads outside it: the planner,
    /// the config loader and bwrap may then follow any link of the tree on the host.
    static func extract(_ archive: URL, into directory: URL, limits: TarEntryCheck.Limits = .default) throws {
        try check(archive, limits: limits)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // --no-same-owner: files belong to the platform, not to the uploader's uid.
        process.arguments = ["tar", "-xzf", archive.path, "-C", directory.path, "--no-same-owner", "--no-same-permissions"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw YardError(.invalidInput, "the uploaded source is not a readable .tar.gz archive: \(text)")
        }
        let escapes = UploadPath.escapingLinks(in: directory)
        if !escapes.isEmpty {
            throw YardError(
                .invalidInput,
                "the upload holds symlinks that lead outside it, which Switchyard does not follow: "
                    + escapes.prefix(3).map { "'\($0.link ?? $0.path)' -> '\($0.target ?? "?")'" }.joined(separator: ", ")
                    + "; replace them with the files they point to, or make them relative links inside the folder"
            )
        }
    }

    /// Reads the archive's headers (decompressed by `gzip`, nothing written) and throws the
    /// first `TarEntryCheck` refusal as an invalid-input error.
    static func check(_ archive: URL, limits: TarEntryCheck.Limits) throws {
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-dc", "--", archive.path]
        let output = Pipe()
        gzip.standardOutput = output
        gzip.standardError = FileHandle.nullDevice
        try gzip.run()
        var entryCheck = TarEntryCheck(limits: limits)
        var refusal: TarEntryCheck.Refusal?
        let reader = output.fileHandleForReading
        // Stops at the end-of-archive blocks, as tar does: what follows is not unpacked.
        while refusal == nil, !entryCheck.finished {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            do throws(TarEntryCheck.Refusal) {
                try entryCheck.feed(chunk)
            } catch {
                refusal = error
            }
        }
        let stoppedEarly = refusal != nil || entryCheck.finished
        if stoppedEarly { gzip.terminate() }
        try? reader.close()
        gzip.waitUntilExit()
        if let refusal { throw YardError(.invalidInput, refusal.description) }
        guard stoppedEarly || gzip.terminationStatus == 0 else {
            throw YardError(.invalidInput, "the uploaded source is not a readable .tar.gz archive: gzip could not decompress it")
        }
        do throws(TarEntryCheck.Refusal) {
            try entryCheck.finish()
        } catch {
            throw YardError(.invalidInput, error.description)
        }
    }
}
