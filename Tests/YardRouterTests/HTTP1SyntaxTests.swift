import NIOCore
import NIOHTTP1
import Testing

@testable import YardRouter

/// The word-at-a-time helpers the parsers use, against the byte-at-a-time rules they stand
/// for.
@Suite("HTTP/1.1 syntax helpers")
struct HTTP1SyntaxTests {
    /// `function` of a word against `reference` of its eight bytes: every byte value at every
    /// position among each of `fillers`, then 20,000 words of seeded random bytes.
    private func expect<Result: Equatable>(
        _ function: (UInt64) -> Result, matches reference: ([UInt8]) -> Result, fillers: [UInt8], seed: UInt64
    ) {
        func word(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        for filler in fillers {
            for position in 0..<8 {
                for value in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = value
                    #expect(function(word(bytes)) == reference(bytes), "\(bytes)")
                }
            }
        }
        var generator = SplitMix(seed: seed)
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(function(word(bytes)) == reference(bytes), "\(bytes)")
        }
    }

    @Test func aWordHoldsAControlByteExactlyWhenOneOfItsBytesIsOne() {
        // Among printable bytes and among bytes at the edges of the test (0x20, 0x7E, 0x80, 0xFF).
        self.expect(
            HTTP1Syntax.holdsControlByte, matches: { bytes in bytes.contains { $0 < 0x20 || $0 == 0x7F } },
            fillers: [UInt8(ascii: "a"), 0x20, 0x7E, 0x80, 0xFF], seed: 17)
    }

    @Test func letterDigitOrHyphenBytesMarksExactlyThoseBytes() {
        func expected(_ bytes: [UInt8]) -> UInt64 {
            var marks: UInt64 = 0
            for (position, byte) in bytes.enumerated() {
                let scalar = Unicode.Scalar(byte)
                if byte < 0x80, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || byte == UInt8(ascii: "-") {
                    marks |= 0x80 << (8 * position)
                }
            }
            return marks
        }
        // Among bytes that are marked and bytes that are not, at the edges of the ranges
        // (0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B, 0xC1, 0xFF).
        self.expect(
            HTTP1Syntax.letterDigitOrHyphenBytes, matches: expected, fillers: Array("aZ0-/:@[`{".utf8) + [0xC1, 0xFF], seed: 31)
    }

    /// Names of every length up to twenty, with bytes that end the fast path (other token
    /// symbols, a space, a byte that is no token) at every position: the name read eight
    /// bytes at a time is the one a byte-by-byte reading finds, and a bad byte is refused.
    @Test func fieldNamesAreReadAsByteByByte() throws {
        let alphabet = Array("aZ9-_!~".utf8) + [UInt8(ascii: " "), 0x7F, 0xE9, UInt8(ascii: "@")]
        var generator = SplitMix(seed: 37)
        for _ in 0..<5_000 {
            let count = Int(generator.next() % 21)
            let name = (0..<count).map { _ in
                // Mostly letters, so that whole words of them come before the odd byte.
                generator.next() % 4 == 0 ? alphabet[Int(generator.next() % UInt64(alphabet.count))] : UInt8(ascii: "k")
            }
            let line = name + Array(": value\r\n\r\n".utf8)
            let valid = !name.isEmpty && name.allSatisfy(HTTP1Syntax.isTokenByte)
            var names: [[UInt8]] = []
            let parsed = Result {
                try line.withUnsafeBytes { bytes in
                    try HTTP1Syntax.parseFields(bytes, from: 0) { name, value in
                        names.append(Array(name))
                        #expect(Array(value) == Array("value".utf8))
                    }
                }
            }
            if valid {
                #expect(throws: Never.self) { try parsed.get() }
                #expect(names == [name], "\(name)")
            } else {
                #expect(throws: MalformedHTTPMessage.self, "\(name)") { try parsed.get() }
                #expect(names.isEmpty, "\(name)")
            }
        }
    }

    @Test func theEndOfASectionIsFoundWhereTheByteByByteSearchFindsIt() {
        func reference(_ bytes: [UInt8], from: Int) -> Int? {
            guard bytes.count >= 4, from <= bytes.count - 4 else { return nil }
            for start in from...(bytes.count - 4) where Array(bytes[start..<start + 4]) == [0x0D, 0x0A, 0x0D, 0x0A] {
                return start + 4
            }
            return nil
        }
        // Bytes mostly CR and LF, so that near misses (CR LF CR x, LF CR LF) are common.
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, UInt8(ascii: "a"), 0x8A, 0x0B]
        var generator = SplitMix(seed: 23)
        for _ in 0..<5_000 {
            let count = Int(generator.next() % 40)
            let bytes = (0..<count).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let buffer = ByteBuffer(bytes: bytes)
            for from in 0...max(0, count - 3) {
                #expect(HTTP1Syntax.endOfSection(in: buffer, from: from) == reference(bytes, from: from), "\(bytes) from \(from)")
            }
        }
    }

    @Test func bytesEqualMarksExactlyTheEqualBytes() {
        var generator = SplitMix(seed: 29)
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in [0x0A, 0x0B, 0x8A, 0x00, 0xFF, 0x09][Int(generator.next() % 6)] as UInt8 }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            var expected: UInt64 = 0
            for (position, byte) in bytes.enumerated() where byte == 0x0A { expected |= 0x80 << (8 * position) }
            #expect(HTTP1Syntax.bytesEqual(to: 0x0A, in: word) == expected, "\(bytes)")
        }
    }

    @Test(arguments: [
        "te", "host", "upgrade", "trailer", "forwarded", "x-real-ip", "connection", "keep-alive", "x-forwarded-",
        "content-length", "x-forwarded-host", "proxy-connection", "transfer-encoding", "x-forwarded-for-the-edge",
    ] as [StaticString])
    func namesCompareAsTheyDoByteByByte(_ pattern: StaticString) {
        let expected = Array(UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount))
        func reference(_ bytes: [UInt8]) -> Bool {
            bytes.count == expected.count && zip(bytes, expected).allSatisfy { $0 | 0x20 == $1 }
        }
        func check(_ bytes: [UInt8]) {
            let equal = bytes.withUnsafeBytes { HTTP1Syntax.equalsLowercased($0, pattern) }
            #expect(equal == reference(bytes), "\(String(decoding: bytes, as: UTF8.self)) against \(pattern)")
        }
        check(expected)
        check(expected.map { $0 &- UInt8(ascii: "a") < 26 ? $0 & ~0x20 : $0 })
        check(expected.dropLast())
        check(expected + [UInt8(ascii: "s")])
        // One byte changed at each position, to each value: the compare must see it wherever
        // it is, in a whole word or in the overlapping last one.
        for position in expected.indices {
            for value in UInt8.min...UInt8.max {
                var bytes = expected
                bytes[position] = value
                check(bytes)
            }
        }
    }

    @Test func namesAreClassifiedAsTheListsSay() {
        let kinds: [(String, HeaderScan)] = [
            ("Connection", .hopByHop), ("KEEP-ALIVE", .hopByHop), ("Proxy-Connection", .hopByHop), ("TE", .hopByHop),
            ("Trailer", .hopByHop), ("upgrade", .hopByHop), ("Transfer-Encoding", .transferEncoding),
            ("Forwarded", .forwarding), ("X-Real-IP", .forwarding), ("X-Forwarded-For", .forwarding),
            ("x-forwarded-proto", .forwarding), ("X-Forwarded-Host", .forwarding), ("X-Forwarded-", .forwarding),
            ("X-Forwarded", []), ("Content-Length", []), ("Content-Type", []), ("Connections", []), ("Keep-Alive2", []),
            ("T", []), ("Upgrades", []), ("Transfer-Encodings", []), ("X-Real-IPs", []), ("Proxy-Authorization", []),
            ("X-Forwarder-For", []), ("Host", []), ("Date", []),
        ]
        for (name, kind) in kinds {
            #expect(HeaderScan.classify(name.utf8) == kind, "\(name)")
        }
    }
}
