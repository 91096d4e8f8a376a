import Foundation
import YardCore

/// Reads the headers of an uncompressed tar stream, fed in chunks, and refuses what an
/// upload must not hold before `tar` (which runs as root) sees it: any entry but a regular
/// file, a folder or a symlink (device nodes, FIFOs, hard links, sparse files), names that
/// are absolute, climb with `..` or pass through a symlink the archive made, and more
/// bytes or entries than the limits allow. A pure value: it never touches the disk.
struct TarEntryCheck {
    struct Limits: Sendable, Equatable {
        /// The most bytes the regular files may hold together once unpacked.
        var maximumBytes: Int64
        /// The most entries (files, folders, links).
        var maximumEntries: Int

        static let `default` = Limits(maximumBytes: 2 << 30, maximumEntries: 200_000)
    }

    /// The check's finding, named so a message can say what to change.
    enum Refusal: Error, Equatable, CustomStringConvertible {
        case entryType(name: String, kind: String)
        case unsafeName(name: String)
        case throughSymlink(name: String, link: String)
        case tooManyBytes(limit: Int64)
        case tooManyEntries(limit: Int)
        case malformed(String)

        var description: String {
            switch self {
            case .entryType(let name, let kind):
                "the upload holds '\(name)', a \(kind); uploads may hold only regular files, folders and symlinks: remove it"
            case .unsafeName(let name):
                "the upload holds the path '\(name)', which is absolute or climbs out with '..'; archive the folder with relative paths"
            case .throughSymlink(let name, let link):
                "the upload holds '\(name)' inside the symlink '\(link)'; an upload may not write through its own links"
            case .tooManyBytes(let limit):
                "the upload unpacks to more than \(Self.bytesText(limit)) (the server's --max-source-size): "
                    + "add large files to .railwayignore, or ask the operator to raise the limit"
            case .tooManyEntries(let limit):
                "the upload holds more than \(limit) files, folders and links (the server's --max-source-entries): "
                    + "add generated folders such as node_modules to .railwayignore, or ask the operator to raise the limit"
            case .malformed(let what):
                "the uploaded source is not a readable .tar.gz archive: \(what)"
            }
        }

        static func bytesText(_ bytes: Int64) -> String {
            let mebibytes = Double(bytes) / 1_048_576
            return mebibytes >= 1024 ? String(format: "%.1f GiB", mebibytes / 1024) : String(format: "%.0f MiB", mebibytes)
        }
    }

    let limits: Limits
    private(set) var entries = 0
    private(set) var bytes: Int64 = 0
    /// True after the two zero blocks that end an archive.
    private(set) var finished = false

    private var buffer: [UInt8] = []
    /// Bytes of the current entry's content still to skip (padding included).
    private var skipping: Int64 = 0
    /// The content of a pax or GNU long-name entry being collected, and what it is for.
    private var collecting: (kind: UInt8, size: Int, total: Int, consumed: Int, data: [UInt8])?
    private var longName: String?
    private var paxPath: String?
    private var paxSize: Int64?
    private var zeroBlocks = 0
    private var symlinks: Set<String> = []

    /// A pax or long-name header larger than this is not a name.
    static let maximumMetadataBytes = 1 << 20

    init(limits: Limits) {
        self.limits = limits
    }

    /// Consumes the next bytes of the stream; throws at the first refusal.
    mutating func feed(_ chunk: some Collection<UInt8>) throws(Refusal) {
        guard !finished else { return }
        buffer.append(contentsOf: chunk)
        var offset = 0
        defer { buffer.removeFirst(offset) }
        while !finished {
            if skipping > 0 {
                let step = Int(min(skipping, Int64(buffer.count - offset)))
                if step == 0 { return }
                skipping -= Int64(step)
                offset += step
                continue
            }
            if var pending = collecting {
                let step = min(pending.total - pending.consumed, buffer.count - offset)
                if step == 0 { return }
                // Keep the meaningful bytes; the padding after them is dropped.
                let wanted = max(0, min(step, pending.size - pending.consumed))
                pending.data.append(contentsOf: buffer[offset..<(offset + wanted)])
                pending.consumed += step
                offset += step
                collecting = pending
                if pending.consumed == pending.total {
                    collecting = nil
                    try finishMetadata(kind: pending.kind, data: pending.data)
                }
                continue
            }
            guard buffer.count - offset >= 512 else { return }
            let header = Array(buffer[offset..<(offset + 512)])
            offset += 512
            try readHeader(header)
        }
    }

    /// Throws when the stream ended before the archive did.
    func finish() throws(Refusal) {
        guard finished || (skipping == 0 && collecting == nil && buffer.isEmpty) else {
            throw .malformed("the archive ends in the middle of an entry")
        }
    }

    private mutating func readHeader(_ header: [UInt8]) throws(Refusal) {
        if header.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if zeroBlocks == 2 { finished = true }
            return
        }
        zeroBlocks = 0
        guard Self.checksumMatches(header) else { throw .malformed("a header's checksum does not match") }
        let type = header[156]
        let declaredSize = try Self.number(header[124..<136])
        let size = paxSize ?? declaredSize
        let padded = (size + 511) / 512 * 512
        switch type {
        case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
            guard declaredSize <= Self.maximumMetadataBytes else { throw .malformed("a metadata entry is \(declaredSize) bytes") }
            let paddedMeta = Int((declaredSize + 511) / 512 * 512)
            if paddedMeta == 0 {
                try finishMetadata(kind: type, data: [])
            } else {
                collecting = (type, Int(declaredSize), paddedMeta, 0, [])
            }
            return
        default: break
        }
        let name = longName ?? paxPath ?? Self.headerName(header)
        longName = nil
        paxPath = nil
        paxSize = nil
        entries += 1
        if entries > limits.maximumEntries { throw .tooManyEntries(limit: limits.maximumEntries) }
        try checkName(name)
        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
            bytes += size
            if bytes > limits.maximumBytes { throw .tooManyBytes(limit: limits.maximumBytes) }
            skipping = padded
        case UInt8(ascii: "5"):
            skipping = padded
        case UInt8(ascii: "2"):
            symlinks.insert(Self.trimmed(name))
            skipping = padded
        case UInt8(ascii: "1"): throw .entryType(name: name, kind: "hard link")
        case UInt8(ascii: "3"): throw .entryType(name: name, kind: "character device")
        case UInt8(ascii: "4"): throw .entryType(name: name, kind: "block device")
        case UInt8(ascii: "6"): throw .entryType(name: name, kind: "FIFO")
        case UInt8(ascii: "S"): throw .entryType(name: name, kind: "sparse file")
        default: throw .entryType(name: name, kind: "tar entry of type '\(Character(UnicodeScalar(type)))'")
        }
    }

    private mutating func finishMetadata(kind: UInt8, data: [UInt8]) throws(Refusal) {
        switch kind {
        case UInt8(ascii: "L"):
            longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
        case UInt8(ascii: "x"):
            for (key, value) in Self.paxRecords(data) {
                switch key {
                case "path": paxPath = value
                case "size":
                    guard let number = Int64(value), number >= 0 else { throw .malformed("a pax size is not a number") }
                    paxSize = number
                default: continue
                }
            }
        default: return  // K (long link name) and g (global pax) change no name or size here
        }
    }

    private func checkName(_ name: String) throws(Refusal) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: true)
        guard !name.hasPrefix("/"), !parts.contains("..") else { throw .unsafeName(name: name) }
        // A member below a symlink the archive made would be written wherever the link points.
        var prefix = ""
        for part in parts.dropLast() where part != "." {
            prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
            if symlinks.contains(prefix) { throw .throughSymlink(name: name, link: prefix) }
        }
    }

    static func trimmed(_ name: String) -> String {
        name.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }.joined(separator: "/")
    }

    /// ustar's name, with its prefix field when the magic says there is one.
    static func headerName(_ header: [UInt8]) -> String {
        let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        let magic = header[257..<262]
        guard Array(magic) == Array("ustar".utf8) else { return name }
        let prefix = String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self)
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// An octal field, or GNU's base-256 form (high bit set) for large sizes.
    static func number(_ field: ArraySlice<UInt8>) throws(Refusal) -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x7F)
            for byte in field.dropFirst() {
                guard value < (Int64.max >> 8) else { throw .malformed("a size field is too large") }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        let text = String(decoding: field.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return 0 }
        guard let value = Int64(text, radix: 8), value >= 0 else { throw .malformed("a header field is not an octal number") }
        return value
    }

    static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = try? number(header[148..<156]) else { return false }
        var sum: Int64 = 0
        for (index, byte) in header.enumerated() {
            sum += (148..<156).contains(index) ? 32 : Int64(byte)
        }
        return sum == stored
    }

    /// `"<length> <key>=<value>\n"` records.
    static func paxRecords(_ data: [UInt8]) -> [(String, String)] {
        var records: [(String, String)] = []
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: data[index..<space], as: UTF8.self)), length > 0,
                index + length <= data.count
            else { break }
            let record = data[(space + 1)..<(index + length)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
                var value = Array(record[(equals + 1)...])
                if value.last == UInt8(ascii: "\n") { value.removeLast() }
                records.append((key, String(decoding: value, as: UTF8.self)))
            }
            index += length
        }
        return records
    }
}
