import NIOCore
import NIOHPACK
import NIOHTTP2

/// The server side of an HTTP/2 connection (RFC 9113) between TLS and
/// `HTTP2StreamDemultiplexer`, in place of swift-nio-http2's `NIOHTTP2Handler`: it reads
/// frames from the decrypted bytes, keeps each stream's state and both directions' flow
/// control, and writes the frames its streams send into one buffer per flush. Request header
/// blocks go through swift-nio-http2's HPACK decoder, responses through the router's own
/// encoder (`HPACKResponseEncoder`); above it the demultiplexer
/// sees the same `HTTP2Frame`s and events (`StreamClosedEvent`, `NIOHTTP2WindowUpdatedEvent`)
/// as from `NIOHTTP2Handler`.
///
/// Why our own: `NIOHTTP2Handler` spent about 29,000 instructions of a proxied h2 request
/// (of 98,000) outside HPACK: a general state machine copied per frame, a flow-control buffer
/// keyed by stream for every frame, events and frame delegates for each, and a pipeline write
/// per frame. This handler does what a server that answers streams needs, and no more: it
/// opens no streams and pushes nothing.
///
/// Errors, as RFC 9113 §5.4 asks:
/// - A connection error (a frame that breaks the framing, an unknown stream's frame where only
///   an open one may be, a header block it cannot decode, a flow-control violation, too many
///   resets) writes a GOAWAY with its code and closes the connection.
/// - A stream error (a frame its stream's state does not allow) resets that stream only.
final class HTTP2ServerConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = ByteBuffer

    struct Limits {
        var maxConcurrentStreams: Int
        var maxHeaderListSize: Int
        /// Resets by the client within `resetWindow` past which it is cut off (rapid reset).
        var maxResetStreams: Int
        var resetWindow: TimeAmount
    }

    /// The largest frame payload the router takes (its `SETTINGS_MAX_FRAME_SIZE`, the default).
    static let maxFrameSize = 1 << 14
    static let defaultWindow = 65_535
    static let maxWindow = Int(Int32.max)
    /// Frames the router answers by itself (SETTINGS and PING acknowledgements, resets) that a
    /// client may pile up while it reads nothing, before it is cut off.
    static let maxAutomaticFramesWhileUnwritable = 10_000
    /// Frames in a row that carry nothing and end nothing (DATA without END_STREAM, HEADERS
    /// and CONTINUATION without END_HEADERS, all empty) before the client is cut off: each
    /// costs the router work and the client 9 bytes (CVE-2019-9518). Envoy allows 1.
    static let maxConsecutiveEmptyFrames = 10
    private static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let limits: Limits
    private var decoder: HPACKDecoder
    private var encoder = HPACKResponseEncoder()

    /// Bytes received and not yet made into frames.
    private var received: ByteBuffer?
    private var prefaceReceived = false
    private var settingsReceived = false
    /// A header block waiting for its CONTINUATION frames.
    private var openBlock: (streamID: HTTP2StreamID, endStream: Bool, fragments: ByteBuffer)?
    /// The highest stream ID the client opened.
    private var lastClientStream = HTTP2StreamID.rootStream
    /// The last stream a GOAWAY the router sent allows: later ones are refused.
    private var goAwayLastStream = HTTP2StreamID.maxID
    private var clientWentAway = false
    private var closing = false

    private var streams: [HTTP2StreamID: Stream] = [:]
    /// Streams with DATA that waits for a window, in the order they began to wait.
    private var blocked: [HTTP2StreamID] = []

    /// The client's settings the router writes by.
    private var peerInitialWindow = HTTP2ServerConnection.defaultWindow
    private var peerMaxFrameSize = HTTP2ServerConnection.maxFrameSize
    /// What the router may still send on the connection, and receive.
    private var sendWindow = HTTP2ServerConnection.defaultWindow
    private var receiveWindow = HTTP2ServerConnection.defaultWindow

    /// Frames written since the last flush, and the promises they complete. The buffer is
    /// reused: TLS has encrypted its bytes and let go of it by the time a flush returns.
    private var output: ByteBuffer
    private var outputPromises: [EventLoopPromise<Void>] = []
    /// A flush was asked for and runs at the end of the event loop's tick.
    private var flushScheduled = false
    /// Bytes were passed on to TLS (a large payload, or `output` before one) and not flushed yet.
    private var passedOnUnflushed = false
    /// DATA payloads at least this large are written as they are, not copied into `output`.
    static let copyLimit = 4 * 1024
    private var automaticFramesWhileUnwritable = 0
    private var consecutiveEmptyFrames = 0

    private var resetCount = 0
    private var resetWindowStart = NIODeadline.uptimeNanoseconds(0)

    private final class Stream {
        var sendWindow: Int
        var receiveWindow = HTTP2ServerConnection.defaultWindow
        /// The client sent END_STREAM.
        var remoteClosed = false
        /// The router's END_STREAM was written (not only queued).
        var localClosed = false
        /// What waits for a window, in order: DATA, and the trailers behind it.
        var pending: [Pending] = []

        init(sendWindow: Int) {
            self.sendWindow = sendWindow
        }
    }

    private enum Pending {
        case data(ByteBuffer, endStream: Bool, promise: EventLoopPromise<Void>?)
        case headers(HPACKHeaders, endStream: Bool, promise: EventLoopPromise<Void>?)
    }

    /// A violation of the protocol, and whether it ends the connection or one stream.
    private struct ProtocolError: Error {
        var code: HTTP2ErrorCode
        var streamID: HTTP2StreamID?
        var reason: String

        static func connection(_ code: HTTP2ErrorCode, _ reason: String) -> ProtocolError {
            ProtocolError(code: code, streamID: nil, reason: reason)
        }

        static func stream(_ id: HTTP2StreamID, _ code: HTTP2ErrorCode, _ reason: String) -> ProtocolError {
            ProtocolError(code: code, streamID: id, reason: reason)
        }
    }

    init(limits: Limits, allocator: ByteBufferAllocator) {
        self.limits = limits
        self.decoder = HPACKDecoder(
            allocator: allocator, maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize, maxHeaderListSize: limits.maxHeaderListSize)
        self.output = allocator.buffer(capacity: 1024)
    }

    // MARK: the connection

    func handlerAdded(context: ChannelHandlerContext) {
        // Added once the handshake chose h2: the server's preface is its SETTINGS, sent at once.
        self.writeFrameHeader(length: 18, type: .settings, flags: 0, streamID: .rootStream)
        self.writeSetting(0x3, UInt32(self.limits.maxConcurrentStreams))  // MAX_CONCURRENT_STREAMS
        self.writeSetting(0x5, UInt32(Self.maxFrameSize))  // MAX_FRAME_SIZE
        self.writeSetting(0x6, UInt32(self.limits.maxHeaderListSize))  // MAX_HEADER_LIST_SIZE
        self.flushOutput(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closing = true
        for id in Array(self.streams.keys) {
            self.closeStream(id, reason: .cancel, context: context)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = HTTP2ServerConnection.unwrapInboundIn(data)
        if self.received == nil {
            self.received = bytes
        } else {
            var bytes = bytes
            self.received!.writeBuffer(&bytes)
        }
        // A stream error resets its stream, and the frames after it are read on (§5.4.2).
        while true {
            do {
                try self.readFrames(context: context)
                break
            } catch let error as ProtocolError {
                if let streamID = error.streamID {
                    do {
                        try self.countReset()
                        self.writeReset(streamID, code: error.code, context: context)
                        try self.automaticFrameWritten(context: context)
                    } catch {
                        self.connectionError(error, context: context)
                        break
                    }
                } else {
                    self.connectionError(error, context: context)
                    break
                }
            } catch {
                self.connectionError(.connection(.internalError, "an unexpected error"), context: context)
                break
            }
        }
        if self.received?.readableBytes == 0 {
            self.received = nil
        } else if (self.received?.readerIndex ?? 0) > 1 << 16 {
            self.received!.discardReadBytes()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        // The acknowledgements, resets and DATA the read made, unless a stream's flush took them.
        if self.hasUnflushedOutput { self.flush(context: context) }
    }

    /// An error from below (TLS, the socket) ends the connection: the HTTP/2 layer's own
    /// errors never leave this handler.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.close(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.automaticFramesWhileUnwritable = 0 }
        context.fireChannelWritabilityChanged()
    }

    // MARK: reading

    private func readFrames(context: ChannelHandlerContext) throws {
        while !self.closing, var buffer = self.received {
            if !self.prefaceReceived {
                guard buffer.readableBytes >= Self.preface.count else { return }
                let matches = buffer.withUnsafeReadableBytes { $0.prefix(Self.preface.count).elementsEqual(Self.preface) }
                guard matches else { throw ProtocolError.connection(.protocolError, "no HTTP/2 client preface") }
                buffer.moveReaderIndex(forwardBy: Self.preface.count)
                self.received = buffer
                self.prefaceReceived = true
                continue
            }
            guard buffer.readableBytes >= 9,
                let header = buffer.withUnsafeReadableBytes({ bytes -> (length: Int, type: UInt8, flags: UInt8, stream: UInt32)? in
                    let length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
                    let stream = UInt32(bytes[5]) << 24 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 8 | UInt32(bytes[8])
                    return (length, bytes[3], bytes[4], stream & 0x7FFF_FFFF)
                })
            else { return }
            guard header.length <= Self.maxFrameSize else {
                throw ProtocolError.connection(.frameSizeError, "a frame of \(header.length) bytes")
            }
            guard buffer.readableBytes >= 9 + header.length else { return }
            buffer.moveReaderIndex(forwardBy: 9)
            let payload = buffer.readSlice(length: header.length)!
            // The buffer is given back before the frame is handled: handling may read no further.
            self.received = buffer
            try self.frame(
                type: header.type, flags: header.flags, streamID: HTTP2StreamID(Int32(header.stream)), payload: payload,
                context: context)
        }
    }

    private func frame(type: UInt8, flags: UInt8, streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        if let block = self.openBlock {
            // A header block in progress admits its CONTINUATION frames only (§6.10).
            guard type == 0x9, streamID == block.streamID else {
                throw ProtocolError.connection(.protocolError, "a frame inside a header block")
            }
        }
        if !self.settingsReceived {
            guard type == 0x4, flags & 0x1 == 0 else {
                throw ProtocolError.connection(.protocolError, "the client's preface did not start with SETTINGS")
            }
        }
        // Only a request's frames that carry or end something start the count again: other
        // frame types in between do not.
        if type == 0x0 || type == 0x1 || type == 0x9 {
            let ends = type == 0x0 ? flags & 0x1 != 0 : flags & 0x4 != 0
            if payload.readableBytes == 0, !ends {
                self.consecutiveEmptyFrames += 1
                guard self.consecutiveEmptyFrames <= Self.maxConsecutiveEmptyFrames else {
                    throw ProtocolError.connection(.enhanceYourCalm, "too many empty frames")
                }
            } else {
                self.consecutiveEmptyFrames = 0
            }
        }
        switch type {
        case 0x0: try self.data(flags: flags, streamID: streamID, payload: payload, context: context)
        case 0x1: try self.headers(flags: flags, streamID: streamID, payload: payload, context: context)
        case 0x2:
            guard streamID != .rootStream else { throw ProtocolError.connection(.protocolError, "PRIORITY on stream 0") }
            guard payload.readableBytes == 5 else { throw ProtocolError.stream(streamID, .frameSizeError, "PRIORITY of a wrong size") }
        case 0x3: try self.resetReceived(streamID: streamID, payload: payload, context: context)
        case 0x4: try self.settings(flags: flags, streamID: streamID, payload: payload, context: context)
        case 0x5: throw ProtocolError.connection(.protocolError, "PUSH_PROMISE from a client")
        case 0x6: try self.ping(flags: flags, streamID: streamID, payload: payload, context: context)
        case 0x7:
            guard streamID == .rootStream else { throw ProtocolError.connection(.protocolError, "GOAWAY on a stream") }
            guard payload.readableBytes >= 8 else { throw ProtocolError.connection(.frameSizeError, "GOAWAY too short") }
            self.clientWentAway = true
            if self.streams.isEmpty { self.close(context: context) }
        case 0x8: try self.windowUpdate(streamID: streamID, payload: payload, context: context)
        case 0x9:
            guard var block = self.openBlock else { throw ProtocolError.connection(.protocolError, "CONTINUATION without a header block") }
            var fragment = payload
            // A compressed block is never much larger than the list it decodes to.
            guard block.fragments.readableBytes + fragment.readableBytes <= 2 * self.limits.maxHeaderListSize + 1024 else {
                throw ProtocolError.connection(.protocolError, "a header block over the size limit")
            }
            self.openBlock = nil
            block.fragments.writeBuffer(&fragment)
            if flags & 0x4 != 0 {
                try self.headerBlock(streamID: block.streamID, endStream: block.endStream, block: block.fragments, context: context)
            } else {
                self.openBlock = block
            }
        default:
            // Unknown frame types are ignored (§4.1, §5.5).
            break
        }
    }

    /// The payload without its padding (§6.1, §6.2).
    private func unpadded(_ payload: ByteBuffer, flags: UInt8) throws -> ByteBuffer {
        guard flags & 0x8 != 0 else { return payload }
        var payload = payload
        guard let padding = payload.readInteger(as: UInt8.self), Int(padding) <= payload.readableBytes else {
            throw ProtocolError.connection(.protocolError, "padding longer than its frame")
        }
        return payload.readSlice(length: payload.readableBytes - Int(padding))!
    }

    private func data(flags: UInt8, streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard streamID != .rootStream else { throw ProtocolError.connection(.protocolError, "DATA on stream 0") }
        guard streamID <= self.lastClientStream else { throw ProtocolError.connection(.protocolError, "DATA on an idle stream") }
        // The whole frame, padding too, counts against the windows (§6.9.1).
        let length = payload.readableBytes
        guard length <= self.receiveWindow else { throw ProtocolError.connection(.flowControlError, "DATA past the connection's window") }
        self.receiveWindow -= length
        let data = try self.unpadded(payload, flags: flags)
        let endStream = flags & 0x1 != 0
        if let stream = self.streams[streamID], !stream.remoteClosed {
            guard length <= stream.receiveWindow else {
                throw ProtocolError.connection(.flowControlError, "DATA past the stream's window")
            }
            stream.receiveWindow -= length
            if endStream { stream.remoteClosed = true }
            context.fireChannelRead(
                HTTP2ServerConnection.wrapInboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(data), endStream: endStream)))))
            if endStream {
                if stream.localClosed { self.closeStream(streamID, reason: nil, context: context) }
            } else if self.streams[streamID] != nil {
                self.windowChanged(streamID, window: stream.receiveWindow, context: context)
            }
        } else if self.streams[streamID] != nil {
            // Half-closed by the client, which sent END_STREAM already (§5.1).
            self.windowChanged(.rootStream, window: self.receiveWindow, context: context)
            throw ProtocolError.stream(streamID, .streamClosed, "DATA after END_STREAM")
        }
        // A closed stream's DATA (one the router reset may still have some on the way) is dropped.
        self.windowChanged(.rootStream, window: self.receiveWindow, context: context)
    }

    private func headers(flags: UInt8, streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard streamID != .rootStream else { throw ProtocolError.connection(.protocolError, "HEADERS on stream 0") }
        var block = try self.unpadded(payload, flags: flags)
        if flags & 0x20 != 0 {
            guard let dependency = block.readInteger(as: UInt32.self), block.readInteger(as: UInt8.self) != nil else {
                throw ProtocolError.connection(.frameSizeError, "HEADERS too short for its priority")
            }
            if dependency & 0x7FFF_FFFF == UInt32(Int32(streamID)) {
                try self.discardBlock(flags: flags, streamID: streamID, block: block)
                throw ProtocolError.stream(streamID, .protocolError, "a stream that depends on itself")
            }
        }
        let endStream = flags & 0x1 != 0
        guard flags & 0x4 != 0 else {
            guard block.readableBytes <= 2 * self.limits.maxHeaderListSize + 1024 else {
                throw ProtocolError.connection(.protocolError, "a header block over the size limit")
            }
            self.openBlock = (streamID, endStream, block)
            return
        }
        try self.headerBlock(streamID: streamID, endStream: endStream, block: block, context: context)
    }

    /// Decodes a self-dependent stream's block anyway: the decoder's table must follow the client's.
    private func discardBlock(flags: UInt8, streamID: HTTP2StreamID, block: ByteBuffer) throws {
        if flags & 0x4 == 0 { throw ProtocolError.connection(.protocolError, "a header block of a refused stream continued") }
        var block = block
        _ = try self.decode(&block)
    }

    private func decode(_ block: inout ByteBuffer) throws -> HPACKHeaders {
        do {
            return try self.decoder.decodeHeaders(from: &block)
        } catch is NIOHPACKErrors.MaxHeaderListSizeViolation {
            throw ProtocolError.connection(.protocolError, "a header list over the size limit")
        } catch {
            throw ProtocolError.connection(.compressionError, "a header block that does not decode")
        }
    }

    /// A complete header block: a new stream's request, or an open stream's trailers.
    private func headerBlock(streamID: HTTP2StreamID, endStream: Bool, block: ByteBuffer, context: ChannelHandlerContext) throws {
        var block = block
        // Decoded first, whatever becomes of the stream: the decoder's table must follow the client's.
        let headers = try self.decode(&block)
        if let stream = self.streams[streamID] {
            guard !stream.remoteClosed else { throw ProtocolError.stream(streamID, .streamClosed, "HEADERS after END_STREAM") }
            // Trailers end the request (§8.1).
            guard endStream else { throw ProtocolError.stream(streamID, .protocolError, "trailers without END_STREAM") }
            stream.remoteClosed = true
            context.fireChannelRead(
                HTTP2ServerConnection.wrapInboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: true)))))
            if stream.localClosed { self.closeStream(streamID, reason: nil, context: context) }
            return
        }
        guard Int32(streamID) % 2 == 1 else { throw ProtocolError.connection(.protocolError, "a client stream with an even ID") }
        guard streamID > self.lastClientStream else {
            // A closed stream (§5.1): trailers of a stream the router reset may cross its reset.
            throw ProtocolError.stream(streamID, .streamClosed, "HEADERS on a closed stream")
        }
        self.lastClientStream = streamID
        if self.clientWentAway || streamID > self.goAwayLastStream || self.streams.count >= self.limits.maxConcurrentStreams {
            self.writeReset(streamID, code: .refusedStream, context: context)
            return
        }
        let stream = Stream(sendWindow: self.peerInitialWindow)
        stream.remoteClosed = endStream
        self.streams[streamID] = stream
        context.fireChannelRead(
            HTTP2ServerConnection.wrapInboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: endStream)))))
    }

    private func resetReceived(streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard streamID != .rootStream else { throw ProtocolError.connection(.protocolError, "RST_STREAM on stream 0") }
        guard payload.readableBytes == 4 else { throw ProtocolError.connection(.frameSizeError, "RST_STREAM of a wrong size") }
        guard streamID <= self.lastClientStream else { throw ProtocolError.connection(.protocolError, "RST_STREAM on an idle stream") }
        try self.countReset()
        var payload = payload
        let code = HTTP2ErrorCode(networkCode: Int(payload.readInteger(as: UInt32.self)!))
        if self.streams[streamID] != nil { self.closeStream(streamID, reason: code, context: context) }
    }

    /// Rapid reset (CVE-2023-44487): opening a stream, which starts a replica's work, and
    /// resetting it costs the client nothing. Counted too are the resets the client makes
    /// the router send by breaking a stream's rules (CVE-2025-8671, "MadeYouReset").
    private func countReset() throws(ProtocolError) {
        let now = NIODeadline.now()
        if now - self.resetWindowStart > self.limits.resetWindow {
            self.resetWindowStart = now
            self.resetCount = 0
        }
        self.resetCount += 1
        guard self.resetCount <= self.limits.maxResetStreams else {
            throw ProtocolError.connection(.enhanceYourCalm, "too many streams reset")
        }
    }

    private func settings(flags: UInt8, streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard streamID == .rootStream else { throw ProtocolError.connection(.protocolError, "SETTINGS on a stream") }
        if flags & 0x1 != 0 {
            guard payload.readableBytes == 0 else { throw ProtocolError.connection(.frameSizeError, "a SETTINGS acknowledgement with a payload") }
            return
        }
        guard payload.readableBytes % 6 == 0 else { throw ProtocolError.connection(.frameSizeError, "SETTINGS of a wrong size") }
        var payload = payload
        var windowDelta = 0
        while let identifier = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
            switch identifier {
            case 0x1:  // HEADER_TABLE_SIZE: the router's encoder keeps to it (at most the default).
                self.encoder.setMaximumSize(Int(value))
            case 0x2:  // ENABLE_PUSH
                guard value <= 1 else { throw ProtocolError.connection(.protocolError, "ENABLE_PUSH other than 0 or 1") }
            case 0x4:  // INITIAL_WINDOW_SIZE
                guard Int(value) <= Self.maxWindow else { throw ProtocolError.connection(.flowControlError, "INITIAL_WINDOW_SIZE too large") }
                windowDelta += Int(value) - self.peerInitialWindow
                self.peerInitialWindow = Int(value)
            case 0x5:  // MAX_FRAME_SIZE
                guard value >= 1 << 14, value < 1 << 24 else { throw ProtocolError.connection(.protocolError, "MAX_FRAME_SIZE out of range") }
                self.peerMaxFrameSize = Int(value)
            default:
                // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE do not bind a server that
                // opens no streams and sends small heads; unknown settings are ignored (§6.5.2).
                break
            }
        }
        self.settingsReceived = true
        self.writeFrameHeader(length: 0, type: .settings, flags: 0x1, streamID: .rootStream)
        try self.automaticFrameWritten(context: context)
        if windowDelta != 0 {
            for (id, stream) in self.streams {
                stream.sendWindow += windowDelta
                guard stream.sendWindow <= Self.maxWindow else {
                    throw ProtocolError.connection(.flowControlError, "a stream's window past the maximum")
                }
                _ = id
            }
            if windowDelta > 0 { self.sendBlocked(context: context) }
        }
    }

    private func ping(flags: UInt8, streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard streamID == .rootStream else { throw ProtocolError.connection(.protocolError, "PING on a stream") }
        guard payload.readableBytes == 8 else { throw ProtocolError.connection(.frameSizeError, "PING of a wrong size") }
        var payload = payload
        let opaque = payload.readInteger(as: UInt64.self)!
        if flags & 0x1 != 0 {
            // The answer to the demultiplexer's PING of a graceful close.
            context.fireChannelRead(
                HTTP2ServerConnection.wrapInboundOut(
                    HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: opaque), ack: true))))
            return
        }
        self.writeFrameHeader(length: 8, type: .ping, flags: 0x1, streamID: .rootStream)
        self.output.writeInteger(opaque)
        try self.automaticFrameWritten(context: context)
    }

    private func windowUpdate(streamID: HTTP2StreamID, payload: ByteBuffer, context: ChannelHandlerContext) throws {
        guard payload.readableBytes == 4 else { throw ProtocolError.connection(.frameSizeError, "WINDOW_UPDATE of a wrong size") }
        var payload = payload
        let increment = Int(payload.readInteger(as: UInt32.self)! & 0x7FFF_FFFF)
        if streamID == .rootStream {
            guard increment > 0 else { throw ProtocolError.connection(.protocolError, "a WINDOW_UPDATE of 0") }
            self.sendWindow += increment
            guard self.sendWindow <= Self.maxWindow else { throw ProtocolError.connection(.flowControlError, "the window past the maximum") }
            self.sendBlocked(context: context)
            return
        }
        guard streamID <= self.lastClientStream else { throw ProtocolError.connection(.protocolError, "WINDOW_UPDATE on an idle stream") }
        guard let stream = self.streams[streamID] else { return }
        guard increment > 0 else { throw ProtocolError.stream(streamID, .protocolError, "a WINDOW_UPDATE of 0") }
        stream.sendWindow += increment
        guard stream.sendWindow <= Self.maxWindow else { throw ProtocolError.stream(streamID, .flowControlError, "the window past the maximum") }
        if !stream.pending.isEmpty { self.sendPending(streamID, stream, context: context) }
    }

    /// Tells the demultiplexer a receive window it may top up.
    private func windowChanged(_ streamID: HTTP2StreamID, window: Int, context: ChannelHandlerContext) {
        guard window <= HTTP2StreamDemultiplexer.targetWindow / 2 else { return }
        context.fireUserInboundEventTriggered(
            NIOHTTP2WindowUpdatedEvent(streamID: streamID, inboundWindowSize: window, outboundWindowSize: nil))
    }

    // MARK: errors

    private func connectionError(_ error: ProtocolError, context: ChannelHandlerContext) {
        guard !self.closing else { return }
        self.writeGoAway(lastStreamID: self.lastClientStream, code: error.code, debugData: error.reason)
        self.close(context: context)
    }

    /// Closes the connection after what was written: a GOAWAY, or the last stream's end
    /// when the client went away.
    private func close(context: ChannelHandlerContext) {
        guard !self.closing else { return }
        self.closing = true
        self.received = nil
        self.flushOutput(context: context)
        context.close(promise: nil)
    }

    private func automaticFrameWritten(context: ChannelHandlerContext) throws(ProtocolError) {
        guard !context.channel.isWritable else { return }
        self.automaticFramesWhileUnwritable += 1
        if self.automaticFramesWhileUnwritable > Self.maxAutomaticFramesWhileUnwritable {
            throw ProtocolError.connection(.enhanceYourCalm, "control frames piled up unread")
        }
    }

    // MARK: writing

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = HTTP2ServerConnection.unwrapOutboundIn(data)
        let streamID = frame.streamID
        switch frame.payload {
        case .headers(let headers):
            guard let stream = self.streams[streamID], !stream.localClosed else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            if stream.pending.isEmpty {
                self.writeHeaders(streamID, headers.headers, endStream: headers.endStream, promise: promise, context: context)
            } else {
                stream.pending.append(.headers(headers.headers, endStream: headers.endStream, promise: promise))
            }
        case .data(let data):
            guard let stream = self.streams[streamID], !stream.localClosed, case .byteBuffer(let buffer) = data.data else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            stream.pending.append(.data(buffer, endStream: data.endStream, promise: promise))
            self.sendPending(streamID, stream, context: context)
        case .rstStream(let code):
            guard self.streams[streamID] != nil else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            self.writeReset(streamID, code: code, context: context)
            if let promise { self.outputPromises.append(promise) }
        case .windowUpdate(let increment):
            if streamID == .rootStream {
                self.receiveWindow += increment
            } else if let stream = self.streams[streamID] {
                stream.receiveWindow += increment
            } else {
                promise?.succeed()
                return
            }
            self.writeFrameHeader(length: 4, type: .windowUpdate, flags: 0, streamID: streamID)
            self.output.writeInteger(UInt32(increment))
            if let promise { self.outputPromises.append(promise) }
        case .goAway(let lastStreamID, let code, let opaqueData):
            self.goAwayLastStream = min(self.goAwayLastStream, lastStreamID)
            var debug = opaqueData ?? ByteBuffer()
            self.writeFrameHeader(length: 8 + debug.readableBytes, type: .goAway, flags: 0, streamID: .rootStream)
            self.output.writeInteger(UInt32(Int32(lastStreamID)))
            self.output.writeInteger(UInt32(code.networkCode))
            self.output.writeBuffer(&debug)
            if let promise { self.outputPromises.append(promise) }
        case .ping(let data, let ack):
            self.writeFrameHeader(length: 8, type: .ping, flags: ack ? 0x1 : 0, streamID: .rootStream)
            self.output.writeInteger(data.integer)
            if let promise { self.outputPromises.append(promise) }
        default:
            // The demultiplexer sends nothing else; SETTINGS are the router's own (see `handlerAdded`).
            promise?.fail(ChannelError.operationUnsupported)
        }
    }

    /// Marks the connection only: the frames of every stream answered in this tick of the
    /// event loop leave together, as one TLS record and one `write`, once the tick's I/O is handled.
    func flush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        guard self.hasUnflushedOutput else {
            context.flush()
            return
        }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushOutput(context: context)
        }
    }

    /// Nothing written before a close is lost: a GOAWAY goes out before the connection ends.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.flushOutput(context: context)
        context.close(mode: mode, promise: promise)
    }

    private var hasUnflushedOutput: Bool {
        self.output.readableBytes > 0 || !self.outputPromises.isEmpty || self.passedOnUnflushed
    }

    private func flushOutput(context: ChannelHandlerContext) {
        self.flushScheduled = false
        self.passOn(context: context)
        context.flush()
        self.passedOnUnflushed = false
        // TLS encrypted the bytes during the flush: the buffer is free for the next frames.
        self.output.clear()
    }

    /// Writes the frames gathered so far, completing their writers' promises with them.
    private func passOn(context: ChannelHandlerContext) {
        guard self.output.readableBytes > 0 || !self.outputPromises.isEmpty else { return }
        let promise: EventLoopPromise<Void>?
        switch self.outputPromises.count {
        case 0:
            promise = nil
        case 1:
            promise = self.outputPromises[0]
        default:
            let promises = self.outputPromises
            let combined = context.eventLoop.makePromise(of: Void.self)
            combined.futureResult.whenComplete { result in
                for promise in promises { promise.completeWith(result) }
            }
            promise = combined
        }
        self.outputPromises.removeAll(keepingCapacity: true)
        context.write(HTTP2ServerConnection.wrapOutboundOut(self.output), promise: promise)
        self.output.moveReaderIndex(forwardBy: self.output.readableBytes)
        self.passedOnUnflushed = true
    }

    private func writeHeaders(
        _ streamID: HTTP2StreamID, _ headers: HPACKHeaders, endStream: Bool, promise: EventLoopPromise<Void>?,
        context: ChannelHandlerContext
    ) {
        // The block goes after a frame header written once its length is known.
        let headerIndex = self.output.writerIndex
        self.output.writeRepeatingByte(0, count: 9)
        self.encoder.encode(headers, into: &self.output)
        let blockLength = self.output.writerIndex - headerIndex - 9
        let flags: UInt8 = endStream ? 0x1 : 0
        if blockLength <= self.peerMaxFrameSize {
            self.setFrameHeader(at: headerIndex, length: blockLength, type: .headers, flags: flags | 0x4, streamID: streamID)
        } else {
            // Larger than a frame: HEADERS, then CONTINUATION frames (§6.10).
            var block = self.output.getSlice(at: headerIndex + 9, length: blockLength)!
            self.output.moveWriterIndex(to: headerIndex)
            var type = HTTP2FrameType.headers
            var first = true
            while block.readableBytes > 0 {
                var piece = block.readSlice(length: min(block.readableBytes, self.peerMaxFrameSize))!
                let last = block.readableBytes == 0
                let pieceFlags = (first ? flags : 0) | (last ? 0x4 : 0)
                self.writeFrameHeader(length: piece.readableBytes, type: type, flags: pieceFlags, streamID: streamID)
                self.output.writeBuffer(&piece)
                type = .continuation
                first = false
            }
        }
        if let promise { self.outputPromises.append(promise) }
        if endStream { self.localEnded(streamID, context: context) }
    }

    /// Sends what the stream has waiting, as far as the windows allow.
    private func sendPending(_ streamID: HTTP2StreamID, _ stream: Stream, context: ChannelHandlerContext) {
        while !stream.pending.isEmpty {
            switch stream.pending[0] {
            case .headers(let headers, let endStream, let promise):
                stream.pending.removeFirst()
                self.writeHeaders(streamID, headers, endStream: endStream, promise: promise, context: context)
            case .data(var buffer, let endStream, let promise):
                let window = min(self.sendWindow, stream.sendWindow)
                guard buffer.readableBytes == 0 || window > 0 else {
                    if !self.blocked.contains(streamID) { self.blocked.append(streamID) }
                    return
                }
                let length = min(buffer.readableBytes, window, self.peerMaxFrameSize)
                var piece = buffer.readSlice(length: length)!
                let last = buffer.readableBytes == 0
                self.sendWindow -= length
                stream.sendWindow -= length
                self.writeFrameHeader(length: length, type: .data, flags: last && endStream ? 0x1 : 0, streamID: streamID)
                if length < Self.copyLimit {
                    self.output.writeBuffer(&piece)
                } else {
                    // A body chunk goes as it is, after the frames before it.
                    self.passOn(context: context)
                    context.write(HTTP2ServerConnection.wrapOutboundOut(piece), promise: nil)
                    self.passedOnUnflushed = true
                }
                if last {
                    stream.pending.removeFirst()
                    if let promise { self.outputPromises.append(promise) }
                    if endStream { self.localEnded(streamID, context: context) }
                } else {
                    stream.pending[0] = .data(buffer, endStream: endStream, promise: promise)
                }
            }
        }
    }

    /// The connection's window opened: the streams that waited for it send, in turn.
    private func sendBlocked(context: ChannelHandlerContext) {
        guard !self.blocked.isEmpty else { return }
        let waiting = self.blocked
        self.blocked.removeAll()
        for id in waiting {
            if let stream = self.streams[id], !stream.pending.isEmpty { self.sendPending(id, stream, context: context) }
        }
    }

    /// The router's END_STREAM went out: the stream closes if the client's had come.
    private func localEnded(_ streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let stream = self.streams[streamID] else { return }
        stream.localClosed = true
        if stream.remoteClosed { self.closeStream(streamID, reason: nil, context: context) }
    }

    private func writeReset(_ streamID: HTTP2StreamID, code: HTTP2ErrorCode, context: ChannelHandlerContext) {
        self.writeFrameHeader(length: 4, type: .rstStream, flags: 0, streamID: streamID)
        self.output.writeInteger(UInt32(code.networkCode))
        if self.streams[streamID] != nil { self.closeStream(streamID, reason: code, context: context) }
    }

    private func closeStream(_ streamID: HTTP2StreamID, reason: HTTP2ErrorCode?, context: ChannelHandlerContext) {
        guard let stream = self.streams.removeValue(forKey: streamID) else { return }
        for pending in stream.pending {
            switch pending {
            case .data(_, _, let promise), .headers(_, _, let promise): promise?.fail(ChannelError.ioOnClosedChannel)
            }
        }
        if let index = self.blocked.firstIndex(of: streamID) { self.blocked.remove(at: index) }
        context.fireUserInboundEventTriggered(StreamClosedEvent(streamID: streamID, reason: reason))
        if self.streams.isEmpty, self.clientWentAway { self.close(context: context) }
    }

    private func writeGoAway(lastStreamID: HTTP2StreamID, code: HTTP2ErrorCode, debugData: String) {
        self.writeFrameHeader(length: 8 + debugData.utf8.count, type: .goAway, flags: 0, streamID: .rootStream)
        self.output.writeInteger(UInt32(Int32(lastStreamID)))
        self.output.writeInteger(UInt32(code.networkCode))
        self.output.writeString(debugData)
    }

    private func writeFrameHeader(length: Int, type: HTTP2FrameType, flags: UInt8, streamID: HTTP2StreamID) {
        self.output.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
        self.output.writeInteger(UInt16(truncatingIfNeeded: length))
        self.output.writeInteger(type.rawValue)
        self.output.writeInteger(flags)
        self.output.writeInteger(UInt32(Int32(streamID)))
    }

    private func setFrameHeader(at index: Int, length: Int, type: HTTP2FrameType, flags: UInt8, streamID: HTTP2StreamID) {
        self.output.setInteger(UInt8(truncatingIfNeeded: length >> 16), at: index)
        self.output.setInteger(UInt16(truncatingIfNeeded: length), at: index + 1)
        self.output.setInteger(type.rawValue, at: index + 3)
        self.output.setInteger(flags, at: index + 4)
        self.output.setInteger(UInt32(Int32(streamID)), at: index + 5)
    }

    private func writeSetting(_ identifier: UInt16, _ value: UInt32) {
        self.output.writeInteger(identifier)
        self.output.writeInteger(value)
    }
}

/// The frame types the router writes.
enum HTTP2FrameType: UInt8 {
    case data = 0x0, headers = 0x1, rstStream = 0x3, settings = 0x4, ping = 0x6, goAway = 0x7, windowUpdate = 0x8, continuation = 0x9
}

@available(*, unavailable)
extension HTTP2ServerConnection: Sendable {}
