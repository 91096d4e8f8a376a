import NIOCore
import NIOHPACK
import Testing

@testable import YardRouter

/// The router's HPACK encoder against swift-nio-http2's decoder standing in for a client:
/// every block decodes to the fields it was made from, in order, across evictions and table
/// size changes, with the decoder's table following the encoder's throughout.
struct HPACKResponseEncoderTests {
    /// A client's decoder, allowing the table size its SETTINGS announced.
    static func decoder(tableSize: Int = 4096) -> HPACKDecoder {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: tableSize, maxHeaderListSize: 1 << 20)
        decoder.maxDynamicTableLength = tableSize
        return decoder
    }

    static func roundTrip(
        _ fields: [(String, String)], encoder: inout HPACKResponseEncoder, decoder: inout HPACKDecoder
    ) throws -> (decoded: [(String, String)], indexing: [HPACKIndexing], bytes: Int) {
        var buffer = ByteBuffer()
        encoder.encode(HPACKHeaders(fields), into: &buffer)
        let bytes = buffer.readableBytes
        let decoded = try decoder.decodeHeaders(from: &buffer)
        #expect(buffer.readableBytes == 0)
        return (decoded.map { ($0.name, $0.value) }, decoded.map(\.indexable), bytes)
    }

    @Test func aRepeatedResponseHeadShrinksToAByteAField() throws {
        var encoder = HPACKResponseEncoder()
        var decoder = Self.decoder()
        let head = [
            (":status", "200"), ("content-type", "text/plain"), ("content-length", "13"), ("date", "Mon, 07 Dec 2026 12:00:00 GMT"),
            ("x-upstream", "app-1"),
        ]
        let first = try Self.roundTrip(head, encoder: &encoder, decoder: &decoder)
        #expect(first.decoded.map(\.0) == head.map(\.0) && first.decoded.map(\.1) == head.map(\.1))
        let second = try Self.roundTrip(head, encoder: &encoder, decoder: &decoder)
        #expect(second.decoded.map(\.0) == head.map(\.0) && second.decoded.map(\.1) == head.map(\.1))
        // `:status: 200` from the static table, the other four from the dynamic one.
        #expect(second.bytes == 5, "\(second.bytes) bytes")
        #expect(first.bytes > 60)
    }

    @Test func aCookieIsNeverIndexed() throws {
        var encoder = HPACKResponseEncoder()
        var decoder = Self.decoder()
        let head = [(":status", "302"), ("set-cookie", "session=abc; Secure"), ("location", "/home")]
        for _ in 0..<2 {
            let result = try Self.roundTrip(head, encoder: &encoder, decoder: &decoder)
            #expect(result.decoded.map(\.1) == head.map(\.1))
            #expect(result.indexing[1] == .neverIndexed)
        }
    }

    /// Random blocks from a pool of names and values, some long enough to evict, with the
    /// client's table size changing between blocks (to 0, small, back to the default).
    @Test func randomBlocksDecodeAsTheyWereMadeAcrossEvictionsAndSizeChanges() throws {
        var generator = SystemRandomNumberGenerator()
        let names = [
            ":status", "content-type", "content-length", "date", "server", "set-cookie", "cache-control", "vary", "etag",
            "x-request-id", "x-upstream", "location", "strict-transport-security", "access-control-allow-origin", "link",
        ]
        let values = ["200", "404", "text/html", "13", "", "gzip", String(repeating: "v", count: 300), String(repeating: "w", count: 3000)]
        var encoder = HPACKResponseEncoder()
        var decoder = Self.decoder()
        for round in 0..<2000 {
            if round % 97 == 0 {
                let size = [0, 64, 256, 4096, 65_536].randomElement(using: &generator)!
                encoder.setMaximumSize(size)
                // The client's decoder allows what its SETTINGS said (the encoder keeps to 4,096 at most).
                decoder.maxDynamicTableLength = size
            }
            let count = Int.random(in: 1...8, using: &generator)
            let fields = (0..<count).map { _ -> (String, String) in
                let name = names.randomElement(using: &generator)!
                let value = Bool.random(using: &generator) ? values.randomElement(using: &generator)! : "n\(Int.random(in: 0..<50, using: &generator))"
                return (name, value)
            }
            let result = try Self.roundTrip(fields, encoder: &encoder, decoder: &decoder)
            #expect(result.decoded.map(\.0) == fields.map(\.0), "round \(round)")
            #expect(result.decoded.map(\.1) == fields.map(\.1), "round \(round)")
        }
    }

    /// Each name the encoder finds in the static table decodes as itself: a wrong index
    /// would decode as another name.
    @Test func everyStaticNameDecodesAsItself() throws {
        let names = [
            ":authority", ":status", "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept",
            "access-control-allow-origin", "age", "allow", "authorization", "cache-control", "content-disposition",
            "content-encoding", "content-language", "content-length", "content-location", "content-range", "content-type",
            "cookie", "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
            "if-range", "if-unmodified-since", "last-modified", "link", "location", "max-forwards", "proxy-authenticate",
            "proxy-authorization", "range", "referer", "refresh", "retry-after", "server", "set-cookie",
            "strict-transport-security", "transfer-encoding", "user-agent", "vary", "via", "www-authenticate",
        ]
        var encoder = HPACKResponseEncoder()
        var decoder = Self.decoder()
        for name in names {
            #expect(HPACKResponseEncoder.staticIndex(of: name) != nil, "\(name) not found")
            let result = try Self.roundTrip([(name, "value-of-\(name)")], encoder: &encoder, decoder: &decoder)
            #expect(result.decoded.first?.0 == name && result.decoded.first?.1 == "value-of-\(name)", "\(name): \(result.decoded)")
        }
    }

    @Test func theStaticTableNamesAreRFC7541s() {
        // Spot checks against Appendix A, and names it does not hold.
        #expect(HPACKResponseEncoder.staticIndex(of: ":status") == 8)
        #expect(HPACKResponseEncoder.staticIndex(of: "content-length") == 28)
        #expect(HPACKResponseEncoder.staticIndex(of: "date") == 33)
        #expect(HPACKResponseEncoder.staticIndex(of: "set-cookie") == 55)
        #expect(HPACKResponseEncoder.staticIndex(of: "www-authenticate") == 61)
        #expect(HPACKResponseEncoder.staticIndex(of: "access-control-allow-origin") == 20)
        #expect(HPACKResponseEncoder.staticIndex(of: "x-upstream") == nil)
        #expect(HPACKResponseEncoder.staticIndex(of: "dates") == nil)
    }
}
