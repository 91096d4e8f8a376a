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
