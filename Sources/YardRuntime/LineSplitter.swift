/// Cuts a byte stream into text lines: `\n` ends a line, a trailing `\r` is dropped, and a
/// line longer than `maxLineBytes` is cut into pieces of at most that size (on a UTF-8
/// character boundary) so one runaway line cannot grow memory without bound.
/// A pure value: feed it chunks as they arrive, call `finish()` at end of stream.
public struct LineSplitter: Sendable {
    public static let defaultMaxLineBytes = 16 * 1024

    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = LineSplitter.defaultMaxLineBytes) {
        precondition(maxLineBytes >= 4, "a line must hold at least one UTF-8 character")
        self.maxLineBytes = maxLineBytes
    }

    /// Adds `bytes` and returns every line they complete, in order.
    public mutating func append(_ bytes: some Sequence<UInt8>) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(Self.decode(pending[...]))
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(byte)
            if pending.count > maxLineBytes {
                lines.append(cutOverlongLine())
            }
        }
        return lines
    }

    /// The unterminated last line, if the stream ended without a newline.
    public mutating func finish() -> String? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : Self.decode(pending[...])
    }

    /// Emits the first `maxLineBytes` (or fewer, to avoid splitting a UTF-8 character) and
    /// keeps the rest pending.
    private mutating func cutOverlongLine() -> String {
        func isContinuation(_ byte: UInt8) -> Bool { byte & 0b1100_0000 == 0b1000_0000 }
        var cut = maxLineBytes
        // A character is at most 4 bytes, so back up over at most 3 continuation bytes.
        while cut > maxLineBytes - 3, isContinuation(pending[cut]) { cut -= 1 }
        if isContinuation(pending[cut]) { cut = maxLineBytes }  // not UTF-8 anyway: cut anywhere
        let line = Self.decode(pending[..<cut])
        pending.removeFirst(cut)
        return line
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var slice = bytes[...]
        if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
    }
}
