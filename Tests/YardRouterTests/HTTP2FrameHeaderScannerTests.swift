import NIOCore
import NIOHTTP1
import Testing

@testable import YardRouter

/// The byte-level frame follower under the HTTP/2 head timeout, and the Host count check.
@Suite("HTTP/2 frame header scanner")
struct HTTP2FrameHeaderScannerTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: Int) -> [UInt8] {
        [
            UInt8(payload >> 16 & 0xFF), UInt8(payload >> 8 & 0xFF), UInt8(payload & 0xFF), type, flags,
            UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF),
        ] + Array(repeating: 0x01, count: payload)
    }

    /// Feeds `bytes` in pieces of `size` and returns whether a block is open after each piece.
    static func scan(_ bytes: [UInt8], in size: Int, into scanner: inout HTTP2FrameHeaderScanner) {
        for start in stride(from: 0, to: bytes.count, by: size) {
            scanner.scan(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
        }
    }

    @Test(arguments: [1, 2, 5, 9, 10, 1000])
    func followsHeaderBlocksWhateverTheReadSizes(size: Int) {
        var scanner = HTTP2FrameHeaderScanner()
        // SETTINGS, then a whole request (HEADERS with END_HEADERS|END_STREAM): no block stays open.
        Self.scan(
            Self.preface + Self.frame(type: 0x4, flags: 0, stream: 0, payload: 12)
                + Self.frame(type: 0x1, flags: 0x5, stream: 1, payload: 30), in: size, into: &scanner)
        #expect(!scanner.headerBlockOpen)
        #expect(scanner.lastCompleteStreamID == 1)
        // HEADERS without END_HEADERS opens a block; a CONTINUATION without it keeps it open.
        Self.scan(Self.frame(type: 0x1, flags: 0x1, stream: 3, payload: 40), in: size, into: &scanner)
        #expect(scanner.headerBlockOpen)
        // A payload byte that looks like a frame header is skipped, not read as one.
        Self.scan(Self.frame(type: 0x9, flags: 0x0, stream: 3, payload: 9), in: size, into: &scanner)
        #expect(scanner.headerBlockOpen)
        Self.scan(Self.frame(type: 0x9, flags: 0x4, stream: 3, payload: 5), in: size, into: &scanner)
        #expect(!scanner.headerBlockOpen)
        #expect(scanner.lastCompleteStreamID == 3)
        // DATA and WINDOW_UPDATE frames change nothing.
        Self.scan(
            Self.frame(type: 0x0, flags: 0x1, stream: 5, payload: 100) + Self.frame(type: 0x8, flags: 0, stream: 0, payload: 4),
            in: size, into: &scanner)
        #expect(!scanner.headerBlockOpen)
    }

    @Test func theGoAwayFrameCarriesTheReasonAsDebugData() {
        var frame = HTTP2HeadTimeoutHandler.goAwayFrame(
            lastStreamID: 7, errorCode: 0xB, debugData: "late", allocator: ByteBufferAllocator())
        #expect(frame.readableBytes == 9 + 8 + 4)
        let header = frame.readBytes(length: 9) ?? []
        #expect(header == [0, 0, 12, 0x7, 0, 0, 0, 0, 0])
        #expect(frame.readInteger(as: UInt32.self) == 7)
        #expect(frame.readInteger(as: UInt32.self) == 0xB)
        #expect(frame.readString(length: 4) == "late")
    }

    @Test func moreThanOneHostCountsValuesAsTheCanonicalFormDoes() {
        let cases: [[(String, String)]] = [
            [("Host", "a")], [("host", "a"), ("HOST", "b")], [("Host", "a, b")], [("Host", "a,")], [("Host", ",a,,")],
            [("Host", " , ")], [("X-Host", "a, b")], [], [("Host", "")], [("Host", ""), ("Host", "b")],
        ]
        for headers in cases {
            let parsed = HTTPHeaders(headers)
            #expect(parsed.hasMoreThanOneHost == (parsed[canonicalForm: "host"].count > 1), "\(headers)")
        }
    }
}
