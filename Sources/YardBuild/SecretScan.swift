import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Looks for secret values in the files of a built app, in this process: a value handed to
/// `grep` would sit on its command line, which every local user can read in /proc. Only
/// regular files are opened (no link followed, no FIFO opened, so the build cannot make the
/// server read or block on anything outside the app).
enum SecretScan {
    /// The files under `root` (relative paths, sorted) that hold each value, by its name;
    /// names whose value appears nowhere are left out.
    static func files(containing secrets: [String: String], under root: URL) -> [String: [String]] {
        let needles = secrets.compactMapValues { $0.isEmpty ? nil : Array($0.utf8) }
        guard !needles.isEmpty else { return [:] }
        let longest = needles.values.map(\.count).max() ?? 0
        var found: [String: [String]] = [:]
        let base = root.standardizedFileURL.path
        var pending = [""]
        while let folder = pending.popLast() {
            let path = folder.isEmpty ? base : base + "/" + folder
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                let relative = folder.isEmpty ? name : folder + "/" + name
                var info = stat()
                guard lstat(base + "/" + relative, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: pending.append(relative)
                case S_IFREG:
                    for secret in scan(base + "/" + relative, needles: needles, overlap: longest - 1) {
                        found[secret, default: []].append(relative)
                    }
                default: continue
                }
            }
        }
        return found.mapValues { $0.sorted() }
    }

    /// Names of the needles found in the file at `path`, read in chunks that overlap by
    /// `overlap` bytes so a value split across two reads is still seen.
    static func scan(_ path: String, needles: [String: [UInt8]], overlap: Int) -> Set<String> {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return [] }
        var found: Set<String> = []
        var window: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while found.count < needles.count {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            window.append(contentsOf: chunk[0..<count])
            for (name, needle) in needles where !found.contains(name) && contains(window, needle) {
                found.insert(name)
            }
            if window.count > overlap { window.removeFirst(window.count - overlap) }
        }
        return found
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                while index <= last {
                    guard let start = memchr(hay.baseAddress! + index, Int32(first), last - index + 1) else { return false }
                    index = UnsafeRawPointer(hay.baseAddress!).distance(to: UnsafeRawPointer(start))
                    if memcmp(hay.baseAddress! + index, pin.baseAddress!, pin.count) == 0 { return true }
                    index += 1
                }
                return false
            }
        }
    }
}
