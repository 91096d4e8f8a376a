import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import YardRouter

/// The router reads clients' requests with a parser of its own (`ClientRequestParser`,
/// inside `ProxyServerHandler`) instead of NIO's `HTTPRequestDecoder`. Each case here goes
/// through both, whole, a byte at a time and in pseudo-random pieces, and the parts must be
/// the same: the same heads (and whether the connection stays open after them), the same
/// body bytes, the same ends and trailers, and a refusal where NIO's decoder refused, after
/// the same parts.
@Suite struct ClientRequestParserTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        /// The client closes its side after the bytes.
        let closes: Bool
        /// Refused at its head, where NIO's decoder passed the head on and refused at the
        /// body (a `Transfer-Encoding` a server cannot frame): nothing of it is handled.
        var refusedAtTheHead = false

        init(_ name: String, _ text: String, closes: Bool = false) {
            self.init(name, bytes: Array(text.utf8), closes: closes)
        }

        init(_ name: String, bytes: [UInt8], closes: Bool = false) {
            self.name = name
            self.bytes = bytes
            self.closes = closes
        }

        var testDescription: String { self.name }

        var atTheHead: Case {
            var refused = self
            refused.refusedAtTheHead = true
            return refused
        }
    }

    static let accepted: [Case] = [
        Case("a GET", "GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: app.localhost\r\nAccept: */*\r\n\r\n"),
        Case("empty lines before the request line", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case("a POST with a length", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"),
        Case("a POST with Content-Length: 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        Case(
            "chunked, with extensions and trailers",
            "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"),
        Case("chunked, upper-case hex, no trailers", "PUT /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n1F\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"),
        Case("chunked after gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        Case("HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
        Case("HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n"),
        Case("HTTP/1.1 with close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        Case("HTTP/1.1 with close among other tokens", "GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, close\r\nTE: trailers\r\n\r\n"),
        Case("HTTP/1.1 with keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nconnection: keep-alive\r\n\r\n"),
        Case(
            "three pipelined requests",
            "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
        Case("other methods", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nDELETE /a HTTP/1.1\r\nHost: a\r\n\r\nPATCH /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxPROPFIND /c HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case("an absolute-form target", "GET http://app.localhost/path?x=y HTTP/1.1\r\nHost: app.localhost\r\n\r\n"),
        Case("values: empty, tabs, spaces around, repeated names", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tvalue\t with\ttabs \t\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"),
        Case("a value with bytes beyond ASCII", bytes: Array("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)),
        Case(
            "hop-by-hop and forwarding fields",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 1.2.3.4\r\nforwarded: for=x\r\nX-Real-IP: 1.2.3.4\r\nTE: trailers\r\nProxy-Connection: close\r\n\r\n"),
        Case(
            "a WebSocket upgrade, then frames that are not parsed",
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\u{81}\u{02}hiGET / HTTP/1.1\r\n\r\n"),
        Case("an upgrade with a body", "POST /u HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade, HTTP2-Settings\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n"),
        Case("Upgrade without Connection: upgrade goes on", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case("closed between requests", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", closes: true),
    ]

    static let refused: [Case] = [
        Case("Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
        Case("two equal Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"),
        Case("two different Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
        Case("two Content-Lengths in one field", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcde"),
        Case("a negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
        Case("a Content-Length with a sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd"),
        Case("an obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n").atTheHead,
        Case("chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n").atTheHead,
        Case("whitespace before the colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        Case("a control character in a name", "GET / HTTP/1.1\r\nHost: a\r\nX-Bad\u{01}Name: 1\r\n\r\n"),
        Case("a bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-Split: a\rb\r\n\r\n"),
        Case("a NUL in a value", bytes: Array("GET / HTTP/1.1\r\nHost: a\r\nX-A: a".utf8) + [0] + Array("b\r\n\r\n".utf8)),
        Case("a folded field line", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"),
        Case("a bare LF ending a field line", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"),
        Case("HTTP/2.0 in the request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        Case("the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Case("no version", "GET /\r\nHost: a\r\n\r\n"),
        Case("a space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case("a lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
        Case("a bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        Case("chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n"),
        Case("a bad request after a good one", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"),
        Case("closed in the middle of a body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", closes: true),
        Case("closed in the middle of a head", "GET / HTTP/1.1\r\nHost: a\r\nAcc", closes: true),
        Case("closed in the middle of chunks", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", closes: true),
    ]

    @Test(arguments: accepted)
    func acceptedRequestsGiveNIOsParts(_ example: Case) throws {
        let expected = try Self.nioTranscript(example)
        #expect(!expected.contains { $0.hasPrefix("error") }, "NIO refused it: \(expected)")
        for split in UpstreamResponseParserTests.splits(of: example.bytes.count) {
            let actual = Self.ourTranscript(example, split: split)
            #expect(actual == expected, "pieces \(split)")
        }
    }

    @Test(arguments: refused)
    func refusedRequestsFailAsNIOsDid(_ example: Case) throws {
        let expected = try Self.nioTranscript(example)
        #expect(expected.last?.hasPrefix("error") == true, "NIO accepted it: \(expected)")
        for split in UpstreamResponseParserTests.splits(of: example.bytes.count) {
            let actual = Self.ourTranscript(example, split: split)
            #expect(actual.last?.hasPrefix("error") == true, "accepted in pieces \(split): \(actual)")
            // What went out before the refusal is what NIO passed on before its own.
            let before = example.refusedAtTheHead ? expected.dropLast(2) : expected.dropLast()
            #expect(actual.dropLast() == before, "pieces \(split)")
        }
    }

    /// Where the parser differs from llhttp on purpose: any token is a method (RFC 9110
    /// §9.1; llhttp knows a fixed list), which the replica may refuse.
    @Test func anyTokenIsAMethod() throws {
        let example = Case("an extension method", "FROBNICATE /x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try Self.nioTranscript(example).last?.hasPrefix("error") == true)
        #expect(Self.ourTranscript(example, split: [64]) == ["head FROBNICATE /x 1.1 keep-alive Host=a", "end"])
    }

    /// The head limit counts the request line and every field line; a head one byte over it
    /// is refused as too large (431) before its end arrives, one at the limit is read. The
    /// trailer section has the same limit.
    @Test func theHeadLimitIsExact() {
        let limit = 1024
        let start = "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: "
        let fill = String(repeating: "f", count: limit - start.utf8.count - 4)
        var parser = ClientRequestParser(maximumHeadSize: limit)
        var fits = ByteBuffer(string: start + fill + "\r\n\r\n")
        #expect(fits.readableBytes == limit)
        #expect(throws: Never.self) { _ = try parser.next(&fits) }
        #expect(fits.readableBytes == 0)

        var over = ClientRequestParser(maximumHeadSize: limit)
        var whole = ByteBuffer(string: start + fill + "f\r\n\r\n")
        #expect { _ = try over.next(&whole) } throws: { ($0 as? MalformedHTTPMessage)?.tooLarge == true }
        var unfinished = ClientRequestParser(maximumHeadSize: limit)
        // Without its end, one byte over: refused before the rest arrives.
        var partial = ByteBuffer(string: start + fill + "fffff")
        #expect(partial.readableBytes == limit + 1)
        #expect { _ = try unfinished.next(&partial) } throws: { ($0 as? MalformedHTTPMessage)?.tooLarge == true }

        // A trailer section: under the limit it is read, over it refused as too large.
        let section = "X-T: " + fill.dropLast(8) + "\r\n\r\n"
        #expect(Self.trailerOutcome(section + "", limit: limit) == "end X-T=" + fill.dropLast(8))
        #expect(Self.trailerOutcome("X-U: " + fill + "\r\n" + section, limit: limit).hasPrefix("tooLarge"))
    }

    static func trailerOutcome(_ section: String, limit: Int) -> String {
        var parser = ClientRequestParser(maximumHeadSize: limit)
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + section)
        var transcript = Transcript()
        do {
            while let part = try parser.next(&buffer) {
                transcript.append(part, keepAlive: parser.takeScan()?.keepAlive)
            }
        } catch {
            return (error as? MalformedHTTPMessage)?.tooLarge == true ? "tooLarge \(error)" : "error \(error)"
        }
        return transcript.lines.last ?? ""
    }

    /// Nothing after a CONNECT is parsed (its bytes are a tunnel's), as with llhttp, and its
    /// connection is not kept for another request: llhttp said keep-alive, and then read
    /// nothing more, so the next request would have waited for the idle timeout.
    @Test func nothingAfterAConnectIsParsed() throws {
        let example = Case("a CONNECT", "CONNECT app.localhost:443 HTTP/1.1\r\nHost: app.localhost:443\r\nContent-Length: 5\r\n\r\nbytes of a tunnel")
        let nio = try Self.nioTranscript(example)
        let ours = Self.ourTranscript(example, split: [7])
        #expect(nio == ["head CONNECT app.localhost:443 1.1 keep-alive Host=app.localhost:443 Content-Length=5", "end"])
        #expect(ours == ["head CONNECT app.localhost:443 1.1 close Host=app.localhost:443 Content-Length=5", "end"])
    }

    /// The scan made while the fields are read is the one `RequestHeadScan` makes from the
    /// head's fields, with the connection's keep-alive beside it.
    @Test(arguments: accepted)
    func theScanIsTheFieldsScan(_ example: Case) {
        var parser = ClientRequestParser(maximumHeadSize: 64 * 1024)
        var buffer = ByteBuffer(bytes: example.bytes)
        while let part = try? parser.next(&buffer) ?? parser.dueEnd() {
            guard case .head(let fieldless) = part else { continue }
            let scan = parser.takeScan()
            let head = scan?.completing(fieldless) ?? fieldless
            let fromFields = RequestHeadScan(head.headers)
            #expect(scan?.fields == fromFields.fields && scan?.host == fromFields.host)
            #expect(scan?.hasMoreThanOneHost == fromFields.hasMoreThanOneHost && scan?.hasUpgrade == fromFields.hasUpgrade)
            #expect(scan?.contentLength == fromFields.contentLength && fromFields.keepAlive == nil)
        }
    }

    // MARK: transcripts

    /// The parts NIO's decoder passes on (bodies joined), "error ..." when it fails.
    static func nioTranscript(_ example: Case) throws -> [String] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        var transcript = Transcript()
        do {
            try channel.writeInbound(ByteBuffer(bytes: example.bytes))
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { transcript.append(part, keepAlive: nil) }
            if example.closes {
                _ = try channel.finish(acceptAlreadyClosed: true)
                while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { transcript.append(part, keepAlive: nil) }
            }
        } catch {
            while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) { transcript.append(part, keepAlive: nil) }
            transcript.lines.append("error \(error)")
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return transcript.lines
    }

    /// The parts the parser gives when the bytes arrive in pieces of the lengths in `split`
    /// (repeated), read as `ProxyServerHandler` reads them; "error ..." when it refuses.
    static func ourTranscript(_ example: Case, split: [Int]) -> [String] {
        var parser = ClientRequestParser(maximumHeadSize: 80 * 1024)
        var transcript = Transcript()
        var unparsed: ByteBuffer?
        var offset = 0
        var piece = 0
        do {
            while offset < example.bytes.count {
                let length = min(split[piece % split.count], example.bytes.count - offset)
                let bytes = ByteBuffer(bytes: example.bytes[offset..<(offset + length)])
                offset += length
                piece += 1
                if unparsed == nil { unparsed = bytes } else { unparsed!.writeImmutableBuffer(bytes) }
                while true {
                    let part: HTTPServerRequestPart?
                    if let end = parser.dueEnd() {
                        part = end
                    } else if var buffer = unparsed {
                        unparsed = nil
                        part = try parser.next(&buffer)
                        if buffer.readableBytes > 0 { unparsed = buffer }
                    } else {
                        part = nil
                    }
                    guard let part else { break }
                    // A head comes without its fields: they are in the scan's field lines.
                    let scan = parser.takeScan()
                    if case .head(let head) = part, let scan {
                        #expect(head.headers.isEmpty)
                        transcript.append(.head(scan.completing(head)), keepAlive: scan.keepAlive)
                    } else {
                        transcript.append(part, keepAlive: scan?.keepAlive)
                    }
                }
            }
            if example.closes {
                try parser.inputEnded(unparsed: unparsed?.readableBytes ?? 0)
            }
        } catch {
            transcript.lines.append("error \(error)")
        }
        return transcript.lines
    }
}

extension Transcript {
    /// A request part; `keepAlive` is the parser's, nil takes the head's own (NIO's decoder
    /// sets it).
    mutating func append(_ part: HTTPServerRequestPart, keepAlive: Bool?) {
        switch part {
        case .head(let head):
            let open = (keepAlive ?? head.isKeepAlive) ? "keep-alive" : "close"
            let line = "head \(head.method.rawValue) \(head.uri) \(head.version.major).\(head.version.minor) \(open)"
            self.lines.append(line + " " + Self.line(head.headers))
        case .body(let buffer):
            self.appendBody(buffer)
        case .end(let trailers):
            self.appendEnd(trailers)
        }
    }
}
