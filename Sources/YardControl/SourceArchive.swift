import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Unpacks an uploaded source tarball with the system's `tar`.
enum SourceArchive {
    /// Unpacks `archive` (a .tar.gz) into `directory` after `TarEntryCheck` read every
    /// header, then refuses the result if a symlink in it leads outside it: the planner,
    /// the config loader and bwrap may then follow any link of the tree on the host.
    ///
    /// As root, `tar` runs as `SandboxIdentity.unpackUID` with no capabilities: the folder is
    /// handed to that uid and becomes tar's working directory before the uid is dropped, and
    /// the archive comes on stdin, so tar needs no path through the server's private folders
    /// and can create nothing (no device node, no file outside the folder) that the check
    /// might have missed.
    static func extract(_ archive: URL, into directory: URL, limits: TarEntryCheck.Limits = .default) throws {
        try check(archive, limits: limits)
        try unpack(archive, into: directory)
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

    /// `tar` itself, with no header check: as the unpacking uid when the server is root.
    static func unpack(_ archive: URL, into directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = try FileHandle(forReadingFrom: archive)
        defer { try? input.close() }
        let process = ChildProcess()
        // --no-same-owner: files belong to the platform, not to the uploader's uid.
        let tar = ["tar", "-xzf", "-", "--no-same-owner", "--no-same-permissions"]
        if geteuid() == 0 {
            let uid = SandboxIdentity.unpackUID
            guard chown(directory.path, uid, uid) == 0 else {
                throw YardError(.internal, "cannot hand \(directory.path) to the unpacking user (chown failed: errno \(errno))")
            }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = [
                "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", "--",
            ] + tar
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = tar
        }
        process.currentDirectoryURL = directory
        process.standardInput = input
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
    }

    /// Reads the archive's headers (decompressed by `gzip`, nothing written) and throws the
    /// first `TarEntryCheck` refusal as an invalid-input error.
    static func check(_ archive: URL, limits: TarEntryCheck.Limits) throws {
        let gzip = ChildProcess()
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
