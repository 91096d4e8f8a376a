import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// A stream's request as HTTP/1 parts for the proxy handler, and its response as HTTP/2
/// frames: what swift-nio-http2's `HTTP2FramePayloadToHTTP1ServerCodec` does, with fewer
/// frames and copies per request.
///
/// - The response's last frame carries END_STREAM (the HEADERS frame of a response without a
///   body, else its last DATA frame) instead of an empty DATA frame after it: each response
///   part is held back until the next one (or a flush) shows whether it is the last.
/// - The request head is read in one pass over the header block (the pseudo-headers found,
///   checked and dropped, `:authority` becoming `Host`), the response head written as an
///   HPACK block in one pass (names lowercased, connection-specific fields dropped).
final class HTTP2StreamCodec: ChannelInboundHandler, ChannelOutboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTP2Frame.FramePayload

    static let version = HTTPVersion(major: 2, minor: 0)

    private var receivedHead = false
    /// The response frame written last and not sent yet.
    private var held: HTTP2Frame.FramePayload?
    private var heldPromise: EventLoopPromise<Void>?

    // MARK: the request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .headers(let headers):
            guard !self.receivedHead else {
                // A second header block is the request's trailers (the HTTP/2 layer checked END_STREAM).
                context.fireChannelRead(Self.wrapInboundOut(.end(Self.regularFields(headers.headers))))
                return
            }
            self.receivedHead = true
            let head: HTTPRequestHead
            do {
                head = try Self.requestHead(headers.headers, endStream: headers.endStream)
            } catch {
                context.fireErrorCaught(error)
                return
            }
            context.fireChannelRead(Self.wrapInboundOut(.head(head)))
            if headers.endStream {
                context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
            }
        case .data(let data):
            guard case .byteBuffer(let buffer) = data.data else { return }
            if buffer.readableBytes > 0 || !data.endStream {
                context.fireChannelRead(Self.wrapInboundOut(.body(buffer)))
            }
            if data.endStream {
                context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
            }
        default:
            break
        }
    }

    /// The HTTP/1 view of a request header block: like swift-nio-http2's conversion (`Host`
    /// from `:authority` unless the client sent one; a body-carrying method without
    /// `content-length` gets `content-length: 0` or chunked framing), in one pass.
    static func requestHead(_ block: HPACKHeaders, endStream: Bool) throws -> HTTPRequestHead {
        var method: String?
        var path: String?
        var scheme: String?
        var authority: String?
        var hasHost = false
        var hasContentLength = false
        var fields: [(String, String)] = []
        fields.reserveCapacity(max(0, block.count - 2))
        for (name, value, _) in block {
            guard name.utf8.first == UInt8(ascii: ":") else {
                if name == "host" {
                    hasHost = true
                } else if name == "content-length" {
                    hasContentLength = true
                }
                fields.append((name, value))
                continue
            }
            switch name {
            case ":method": try Self.setPseudo(&method, name: name, value: value)
            case ":path": try Self.setPseudo(&path, name: name, value: value)
            case ":scheme": try Self.setPseudo(&scheme, name: name, value: value)
            case ":authority": try Self.setPseudo(&authority, name: name, value: value)
            default: continue
            }
        }
        guard let method else { throw NIOHTTP2Errors.missingPseudoHeader(":method") }
        guard let path else { throw NIOHTTP2Errors.missingPseudoHeader(":path") }
        guard scheme != nil else { throw NIOHTTP2Errors.missingPseudoHeader(":scheme") }
        guard let authority else { throw NIOHTTP2Errors.missingPseudoHeader(":authority") }
        let httpMethod = HTTPMethod(rawValue: method)
        if !hasHost {
            fields.append(("host", authority))
        }
        switch httpMethod {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            break
        default:
            if !hasContentLength {
                fields.append(endStream ? ("content-length", "0") : ("transfer-encoding", "chunked"))
            }
        }
        return HTTPRequestHead(version: Self.version, method: httpMethod, uri: path, headers: HTTPHeaders(fields))
    }

    private static func setPseudo(_ slot: inout String?, name: String, value: String) throws {
        guard slot == nil else { throw NIOHTTP2Errors.duplicatePseudoHeader(name) }
        // No SP, control character or DEL: `:path` becomes the HTTP/1.1 request line.
        guard !value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw NIOHTTP2Errors.invalidPseudoHeaderValue(name: name, value: value)
        }
        slot = value
    }

    private static func regularFields(_ block: HPACKHeaders) -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(block.count)
        for (name, value, _) in block where name.utf8.first != UInt8(ascii: ":") {
            fields.append((name, value))
        }
        return HTTPHeaders(fields)
    }

    // MARK: the response

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            self.sendHeld(context: context)
            self.hold(.headers(.init(headers: Self.responseBlock(head))), promise: promise)
        case .body(let body):
            self.sendHeld(context: context)
            self.hold(.data(.init(data: body)), promise: promise)
        case .end(let trailers?):
            self.sendHeld(context: context)
            context.write(Self.wrapOutboundOut(.headers(.init(headers: Self.fieldBlock(trailers), endStream: true))), promise: promise)
        case .end(nil):
            guard var last = self.held else {
                let empty = context.channel.allocator.buffer(capacity: 0)
                context.write(Self.wrapOutboundOut(.data(.init(data: .byteBuffer(empty), endStream: true))), promise: promise)
                return
            }
            var lastPromise = self.heldPromise
            self.held = nil
            self.heldPromise = nil
            switch last {
            case .headers(var headers):
                headers.endStream = true
                last = .headers(headers)
            case .data(var frame):
                frame.endStream = true
                last = .data(frame)
            default:
                break
            }
            if let promise {
                if let lastPromise { lastPromise.futureResult.cascade(to: promise) } else { lastPromise = promise }
            }
            context.write(Self.wrapOutboundOut(last), promise: lastPromise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        self.sendHeld(context: context)
        context.flush()
    }

    private func hold(_ payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?) {
        self.held = payload
        self.heldPromise = promise
    }

    private func sendHeld(context: ChannelHandlerContext) {
        guard let held = self.held else { return }
        let promise = self.heldPromise
        self.held = nil
        self.heldPromise = nil
        context.write(Self.wrapOutboundOut(held), promise: promise)
    }

    /// `:status` and the response's fields, in one array.
    static func responseBlock(_ head: HTTPResponseHead) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(head.headers.count + 1)
        block.add(name: ":status", value: String(head.status.code))
        Self.appendFields(head.headers, to: &block)
        return block
    }

    static func fieldBlock(_ fields: HTTPHeaders) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(fields.count)
        Self.appendFields(fields, to: &block)
        return block
    }

    /// Names lowercased (HTTP/2 requires it); connection-specific fields, and those a
    /// `Connection` field names, left out.
    private static func appendFields(_ fields: HTTPHeaders, to block: inout HPACKHeaders) {
        var sawConnection = false
        for (name, value) in fields {
            let lowercased = name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
            switch lowercased {
            case "connection":
                sawConnection = true
            case "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
                break
            default:
                block.add(name: lowercased, value: value)
            }
        }
        guard sawConnection else { return }
        for named in fields[canonicalForm: "connection"] {
            block.remove(name: named.lowercased())
        }
    }
}

@available(*, unavailable)
extension HTTP2StreamCodec: Sendable {}
