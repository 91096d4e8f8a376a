import Crypto
import Foundation

public enum ContentHash {
    /// Lower-case hex SHA-256 of `data`.
    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    public static func sha256(_ string: String) -> String {
        sha256(Data(string.utf8))
    }

    /// SHA-256 of a file's content, read in chunks so large uploads are not held in memory.
    public static func sha256(fileAt url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// A random secret as hex, from the system's secure generator.
    public static func randomToken(bytes: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// An incremental SHA-256 over a sequence of fields. Each field is length-prefixed, so
/// ("ab", "c") and ("a", "bc") hash differently.
public struct ContentHasher {
    private var hasher = SHA256()

    public init() {}

    public mutating func add(_ string: String) {
        add(Data(string.utf8))
    }

    public mutating func add(_ data: Data) {
        var length = UInt64(data.count).bigEndian
        withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
        hasher.update(data: data)
    }

    /// Adds a file's bytes in chunks, with its length first.
    public mutating func addFile(at url: URL) throws {
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.uint64Value ?? 0
        var length = size.bigEndian
        withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
    }

    public func finish() -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

extension ContentHash {
    /// SHA-256 of a folder's content: every entry's relative path, kind, executable bit and
    /// bytes (a symlink's target), in sorted order. Timestamps and owners do not count, so
    /// the same files packed twice hash the same.
    public static func sha256(treeAt root: URL) throws -> String {
        var hasher = ContentHasher()
        hasher.add("switchyard-tree-v1")
        let files = FileManager.default
        let rootPath = root.standardizedFileURL.path
        var pending = [""]
        while let relative = pending.popLast() {
            let absolute = relative.isEmpty ? rootPath : rootPath + "/" + relative
            let names = try files.contentsOfDirectory(atPath: absolute).sorted().reversed()
            for name in names {
                let path = relative.isEmpty ? name : relative + "/" + name
                let full = rootPath + "/" + path
                let attributes = try files.attributesOfItem(atPath: full)
                switch attributes[.type] as? FileAttributeType {
                case .typeDirectory?:
                    hasher.add("d:" + path)
                    pending.append(path)
                case .typeSymbolicLink?:
                    hasher.add("l:" + path)
                    hasher.add(try files.destinationOfSymbolicLink(atPath: full))
                case .typeRegular?:
                    let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
                    hasher.add((mode & 0o111 != 0 ? "x:" : "f:") + path)
                    try hasher.addFile(at: URL(fileURLWithPath: full))
                default:
                    hasher.add("o:" + path)
                }
            }
        }
        return hasher.finish()
    }
}
