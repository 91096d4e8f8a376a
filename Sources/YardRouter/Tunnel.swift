import NIOConcurrencyHelpers
import NIOCore

/// Where a WebSocket frame ends, in a stream of frames: the proxy reads the frame headers
/// of what a replica sends so it can put a close frame between two frames, never inside one.
struct WebSocketFrameTracker: Sendable {
    /// Header bytes of the frame being read, until the header is complete.
    private var header: [UInt8] = []
    /// Payload bytes of the current frame still to come.
    private var remaining: UInt64 = 0

    /// No frame has started and not finished.
    var atBoundary: Bool { self.header.isEmpty && self.remaining == 0 }

    /// Reads `bytes`; with `stopAtBoundary`, stops right after the first frame that ends
    /// in them. Returns how many bytes were read.
    mutating func consume(_ bytes: ByteBufferView, stopAtBoundary: Bool) -> Int {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if self.remaining > 0 {
                let take = min(self.remaining, UInt64(bytes.endIndex - index))
                self.remaining -= take
                index += Int(take)
                if self.remaining == 0, stopAtBoundary { break }
                continue
            }
            self.header.append(bytes[index])
            index += 1
            if let length = Self.headerLength(self.header), self.header.count == length {
                self.remaining = Self.payloadLength(self.header)
                self.header.removeAll(keepingCapacity: true)
                if self.remaining == 0, stopAtBoundary { break }
            }
        }
        return index - bytes.startIndex
    }

    /// The whole header's length once its first two bytes are known.
    private static func headerLength(_ header: [UInt8]) -> Int? {
        guard header.count >= 2 else { return nil }
        let masked = header[1] & 0x80 != 0
        let extended: Int =
            switch header[1] & 0x7F {
            case 126: 2
            case 127: 8
            default: 0
            }
        return 2 + extended + (masked ? 4 : 0)
    }

    private static func payloadLength(_ header: [UInt8]) -> UInt64 {
        let short = header[1] & 0x7F
        let bytes: ArraySlice<UInt8> =
            switch short {
            case 126: header[2..<4]
            case 127: header[2..<10]
            default: []
            }
        guard !bytes.isEmpty else { return UInt64(short) }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A server's close frame (unmasked) with `code` and no reason.
    static func closeFrame(code: UInt16) -> ByteBuffer {
        ByteBuffer(bytes: [0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)])
    }
}

/// One side of a tunnel between a client connection and a replica after an upgrade
/// (WebSocket): bytes read on one side are written to the other, reads pause while the
/// other side cannot take more, and closing either side closes both.
final class TunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The handler on the other connection; both run on the same event loop.
    var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// On the replica's side of a WebSocket tunnel: where its frames end.
    private var frames: WebSocketFrameTracker?
    /// Going away: after the current frame the client gets a close frame, and nothing more
    /// from the replica.
    private var closingAfterFrame = false
    private var closed = false

    init(tracksWebSocketFrames: Bool) {
        self.frames = tracksWebSocketFrames ? WebSocketFrameTracker() : nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.partner?.resumeReading()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // By name, not `Self`, so it is specialized (see `ProxyServerHandler.channelRead`).
        let buffer = TunnelHandler.unwrapInboundIn(data)
        guard let partner else { return }
        // Flushed at `channelReadComplete`, which ends every read: a socket's, and the bytes
        // that came with a 101, which `UpstreamConnectionHandler` hands over as it leaves.
        guard var frames = self.frames else {
            partner.write(buffer)
            return
        }
        if self.closed { return }
        let used = frames.consume(buffer.readableBytesView, stopAtBoundary: self.closingAfterFrame)
        self.frames = frames
        partner.write(buffer.getSlice(at: buffer.readerIndex, length: used) ?? buffer)
        if self.closingAfterFrame, frames.atBoundary {
            self.sendCloseFrame()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partner?.closeConnection()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        // Read only while the other side keeps up.
        if let partner, !partner.isWritable {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: Called by the partner

    /// A side not in its pipeline yet holds nothing back.
    fileprivate var isWritable: Bool { self.context?.channel.isWritable ?? true }

    fileprivate func write(_ buffer: ByteBuffer) {
        self.context?.write(TunnelHandler.wrapOutboundOut(buffer), promise: nil)
    }

    fileprivate func flush() {
        self.context?.flush()
    }

    fileprivate func resumeReading() {
        guard self.pendingRead, let context else { return }
        self.pendingRead = false
        context.read()
    }

    /// Client bytes diverted before the HTTP parser (on the client's side of the tunnel).
    func forwardFromClient(_ buffer: ByteBuffer) {
        self.partner?.write(buffer)
    }

    func flushToReplica() {
        self.partner?.flush()
    }

    fileprivate func closeConnection() {
        self.context?.close(promise: nil)
    }

    // MARK: Going away

    /// Called on the replica's side when its deployment drains: the client gets a close
    /// frame (1001, going away) at the next frame boundary. Returns false for tunnels that
    /// are not WebSocket, which are simply closed.
    func goAway() {
        guard self.frames != nil else {
            self.closeConnection()
            return
        }
        self.closingAfterFrame = true
        if self.frames?.atBoundary == true { self.sendCloseFrame() }
    }

    private func sendCloseFrame() {
        guard !self.closed, let partner, let context else { return }
        self.closed = true
        partner.write(WebSocketFrameTracker.closeFrame(code: 1001))
        partner.flush()
        // The client answers with its own close frame and closes; if it does not, both
        // connections close shortly after.
        let loopBound = NIOLoopBound(partner, eventLoop: context.eventLoop)
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) {
            loopBound.value.closeConnection()
        }
    }
}

/// Open tunnels by the replica they lead to, so a draining replica's WebSockets can be
/// told to go away before it is stopped.
final class Tunnels: Sendable {
    private struct Entry: Sendable {
        var replicaID: String
        var eventLoop: any EventLoop
        var goAway: @Sendable () -> Void
    }

    private let entries = NIOLockedValueBox([UInt64: Entry]())
    private let nextID = NIOLockedValueBox(UInt64(0))

    func add(replicaID: String, eventLoop: any EventLoop, goAway: @escaping @Sendable () -> Void) -> UInt64 {
        let id = self.nextID.withLockedValue { $0 &+= 1; return $0 }
        self.entries.withLockedValue { $0[id] = Entry(replicaID: replicaID, eventLoop: eventLoop, goAway: goAway) }
        return id
    }

    func remove(_ id: UInt64) {
        self.entries.withLockedValue { _ = $0.removeValue(forKey: id) }
    }

    var count: Int { self.entries.withLockedValue { $0.count } }

    /// Tells every tunnel to one of `replicaIDs` to go away; returns how many there were.
    func goAway(replicaIDs: Set<String>) -> Int {
        let chosen = self.entries.withLockedValue { entries in entries.values.filter { replicaIDs.contains($0.replicaID) } }
        for entry in chosen { entry.eventLoop.execute(entry.goAway) }
        return chosen.count
    }

    /// Whether any tunnel to one of `replicaIDs` is still open.
    func contains(replicaIDs: Set<String>) -> Bool {
        self.entries.withLockedValue { entries in entries.values.contains { replicaIDs.contains($0.replicaID) } }
    }
}
