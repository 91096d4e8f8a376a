import Foundation
import YardCore

/// Unpacks an uploaded source tarball with the system's `tar`.
enum SourceArchive {
    static func extract(_ archive: URL, into directory: URL) throws {
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
    }
}
