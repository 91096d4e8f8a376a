import Foundation

/// Reads files under /proc whole. They report a size of 0, and Foundation's
/// `String(contentsOfFile:)` then returns only the first 4 KB: a mount table with a few
/// dozen overlay mounts is longer than that (measured: 4,089 of 13,072 bytes).
public enum ProcFile {
    public static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
