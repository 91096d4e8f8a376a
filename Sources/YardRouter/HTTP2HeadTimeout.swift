import Logging
import NIOCore

/// The request head timeout of an HTTP/2 connection (HTTP/1.1's is the proxy handler's
/// `requestHeadTimeout`): once a stream's HEADERS frame arrives without END_HEADERS, the rest of its header block
/// (the CONTINUATION frames) must follow within `timeout`. Nothing else may be sent on the
/// connection meanwhile, so a client that trickles a header block would hold the whole
/// connection and its decoder state; it gets a GOAWAY (`ENHANCE_YOUR_CALM`, the reason as
/// debug data) and is disconnected.
///
/// It sits between TLS and `HTTP2ServerConnection` and reads only the 9-byte frame headers of the
/// plaintext (payloads are skipped by count), so a request costs a few comparisons and no
/// timer: the usual HEADERS frame carries END_HEADERS and never opens a block.
final class HTTP2HeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, the client's preface before its first frame.
    static let prefaceLength = 24
    static let frameHeaderLength = 9

    private let timeout: TimeAmount
    private let logger: Logger
    private var scanner = HTTP2FrameHeaderScanner()
    /// When the open header block must be complete; nil while none is open.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = HTTP2HeadTimeoutHandler.unwrapInboundIn(data)
        let wasOpen = self.scanner.headerBlockOpen
        self.scanner.scan(buffer)
        if self.scanner.headerBlockOpen != wasOpen {
            if self.scanner.headerBlockOpen {
                self.startDeadline(context: context)
            } else {
                self.deadline = nil
            }
        }
        context.fireChannelRead(data)
    }

    private func startDeadline(context: ChannelHandlerContext) {
        let deadline = NIODeadline.now() + self.timeout
        self.deadline = deadline
        // A timer still armed from an earlier block fires no later than this one should.
        guard self.timer == nil else { return }
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        guard let deadline = self.deadline else { return }
        if deadline > .now() {
            // A newer block opened after the one this timer was armed for.
            self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                self.timer = nil
                self.timerFired(context: context)
            }
            return
        }
        self.deadline = nil
        let reason = "the request head did not arrive within \(self.timeout.shortDescription)"
        self.logger.debug("closing HTTP/2 connection", metadata: ["reason": "\(reason)"])
        let goAway = Self.goAwayFrame(
            lastStreamID: self.scanner.lastCompleteStreamID, errorCode: 0xB, debugData: reason, allocator: context.channel.allocator)
        let loopBound = context.loopBound
        context.writeAndFlush(NIOAny(goAway)).assumeIsolated().whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    /// A GOAWAY frame (RFC 9113 §6.8) as bytes: written below the HTTP/2 handler, between
    /// two of its frames, just before the connection closes.
    static func goAwayFrame(lastStreamID: UInt32, errorCode: UInt32, debugData: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let debugBytes = debugData.utf8.count
        var buffer = allocator.buffer(capacity: Self.frameHeaderLength + 8 + debugBytes)
        let length = UInt32(8 + debugBytes)
        buffer.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
        buffer.writeInteger(UInt16(truncatingIfNeeded: length))
        buffer.writeInteger(UInt8(0x7))  // GOAWAY
        buffer.writeInteger(UInt8(0))  // no flags
        buffer.writeInteger(UInt32(0))  // stream 0
        buffer.writeInteger(lastStreamID & 0x7FFF_FFFF)
        buffer.writeInteger(errorCode)
        buffer.writeString(debugData)
        return buffer
    }
}

/// Follows the frames of a client's HTTP/2 byte stream by their headers alone, across reads:
/// whether a header block (HEADERS or PUSH_PROMISE without END_HEADERS, then CONTINUATION
/// frames up to one with END_HEADERS) is open.
struct HTTP2FrameHeaderScanner {
    /// Preface bytes still to skip.
    private var prefaceRemaining = HTTP2HeadTimeoutHandler.prefaceLength
    /// Payload bytes of the current frame still to skip.
    private var payloadRemaining = 0
    /// The frame header read so far (at most 9 bytes; split across reads only rarely).
    private var partial = (length: UInt32(0), type: UInt8(0), flags: UInt8(0), streamID: UInt32(0))
    private var headerBytes = 0
    private(set) var headerBlockOpen = false
    /// The stream of the last header block that was completed.
    private(set) var lastCompleteStreamID: UInt32 = 0
    /// The stream of the block open now.
    private var openStreamID: UInt32 = 0

    mutating func scan(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            let count = bytes.count
            while index < count {
                if self.prefaceRemaining > 0 {
                    let skipped = min(self.prefaceRemaining, count - index)
                    self.prefaceRemaining -= skipped
                    index += skipped
                } else if self.payloadRemaining > 0 {
                    let skipped = min(self.payloadRemaining, count - index)
                    self.payloadRemaining -= skipped
                    index += skipped
                } else if self.headerBytes == 0, count - index >= HTTP2HeadTimeoutHandler.frameHeaderLength {
                    // The whole header is in this read: the usual case.
                    let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
                    let streamID =
                        UInt32(bytes[index + 5]) << 24 | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 8
                        | UInt32(bytes[index + 8])
                    self.frame(type: bytes[index + 3], flags: bytes[index + 4], streamID: streamID & 0x7FFF_FFFF)
                    self.payloadRemaining = length
                    index += HTTP2HeadTimeoutHandler.frameHeaderLength
                } else {
                    self.headerByte(bytes[index])
                    index += 1
                }
            }
        }
    }

    /// One byte of a frame header that arrived in pieces.
    private mutating func headerByte(_ byte: UInt8) {
        switch self.headerBytes {
        case 0...2: self.partial.length = self.partial.length << 8 | UInt32(byte)
        case 3: self.partial.type = byte
        case 4: self.partial.flags = byte
        default: self.partial.streamID = self.partial.streamID << 8 | UInt32(byte)
        }
        self.headerBytes += 1
        guard self.headerBytes == HTTP2HeadTimeoutHandler.frameHeaderLength else { return }
        self.frame(type: self.partial.type, flags: self.partial.flags, streamID: self.partial.streamID & 0x7FFF_FFFF)
        self.payloadRemaining = Int(self.partial.length)
        self.partial = (0, 0, 0, 0)
        self.headerBytes = 0
    }

    private mutating func frame(type: UInt8, flags: UInt8, streamID: UInt32) {
        let endHeaders = flags & 0x4 != 0
        switch type {
        case 0x1, 0x5:  // HEADERS, PUSH_PROMISE
            if endHeaders {
                self.lastCompleteStreamID = max(self.lastCompleteStreamID, streamID)
            } else {
                self.headerBlockOpen = true
                self.openStreamID = streamID
            }
        case 0x9 where endHeaders:  // the last CONTINUATION
            if self.headerBlockOpen { self.lastCompleteStreamID = max(self.lastCompleteStreamID, self.openStreamID) }
            self.headerBlockOpen = false
        default:
            break
        }
    }
}
