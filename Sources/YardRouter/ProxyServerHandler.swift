import Logging
import NIOCore
import NIOHTTP1

/// The last handler of a client connection's pipeline (HTTP/1.1), or the handler of one
/// HTTP/2 stream, attached to it by `HTTP2StreamDemultiplexer`. It translates between events and `ProxyConnectionStateMachine`, which decides;
/// this type only carries out the actions, leasing upstream connections from the event
/// loop's pool. What it does to the client goes through `ProxyClientSide`, and its channel
/// callbacks hand over to methods that take no context.
final class ProxyServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Where requests for a host without a ready replica wait, and for how long.
    struct Hold {
        var requests: HeldRequests
        var timeout: TimeAmount
    }

    private let tunnels: Tunnels
    private let accessLog: AccessLog
    /// The access log fields of the request in flight.
    private var access: AccessLogRecord?
    /// Dates the access log entries of this connection's requests.
    private var clock = WallClockAnchor()

    private var stateMachine: ProxyConnectionStateMachine
    private let hold: Hold
    /// The registration of the request held now, and its deadline.
    private var heldAs: (host: String, id: UInt64)?
    private var holdTimer: Scheduled<Void>?
    private let eject: @Sendable (Upstream) -> Void
    /// Once the first byte of a request arrives, the whole head must follow within this, or
    /// the client gets 408 and the connection closes: this bounds slowloris-style clients
    /// that trickle header bytes (the time between requests is `idleTimeout`). Nil on an
    /// HTTP/2 stream, whose connection times its heads (`HTTP2HeadTimeout`) and which has no
    /// byte stream to upgrade or half-close: non-nil exactly for an HTTP/1.1 connection.
    private let requestHeadTimeout: TimeAmount?
    /// True between requests: the next byte starts a head.
    private var waitingForHead = true
    /// When the head being received must be complete; nil while none is.
    private var headDeadline: NIODeadline?
    /// After a 101 the client's bytes belong to the tunnel: they are kept unparsed, and
    /// handed to it when it replaces this handler.
    private var divertedToTunnel = false
    private let pool: UpstreamConnectionPool
    /// Looks a `Host` value and request target up in the route table.
    private let selectRoute: @Sendable (String, String, NIODeadline, inout UpstreamSelector.LastHost?) -> RouteSelection
    /// The host this connection's last request went to, for the next look-up.
    private var lastHost: UpstreamSelector.LastHost?
    /// The last `Host` value as the client sent it, and normalized: a keep-alive client
    /// sends the same one with each request.
    private var lastHostSent: String?
    private var lastHostNormalized = ""
    /// The target of the request in flight, to look it up again while it is held.
    private var target = "/"
    private var logger: Logger
    /// Where responses go; set while the handler is in a pipeline.
    private var client: (any ProxyClientSide)?
    /// `client != nil`, without copying the existential to ask.
    private var attached = false
    /// The leased upstream connection while a request is forwarded.
    private var upstream: UpstreamConnection?
    /// The pool entry of this connection's last lease, for the next one.
    private var leaseHint: UpstreamConnectionPool.LeaseHint?
    /// Reads from the client are off because the upstream is slow or the request buffer is full.
    private var clientReadsPaused = false
    /// Reads from the client are off because pipelined requests (or a parser error after
    /// them) wait for the response in flight.
    private var readsPausedForPipelining = false
    /// The client channel's `autoRead`, as last set (off while either reason above holds).
    private var clientAutoRead = true
    /// Parts of pipelined requests that arrived while a response was in flight, handed on in
    /// order once it has ended (`handlePipelined()`); at most what one read brought, as reads
    /// stop while any wait.
    private var pipelined: [(part: HTTPServerRequestPart, scan: RequestHeadScan?)] = []
    /// A parser error in what the client sent after the request in flight: answered (400,
    /// 431) once the responses before it have ended.
    private var heldError: MalformedHTTPMessage?
    /// Reads an HTTP/1.1 connection's requests from its bytes (nil on an HTTP/2 stream, whose
    /// requests come parsed); made when the handler joins the pipeline.
    private var requestParser: ClientRequestParser?
    private let maxRequestHeadBytes: Int
    /// Bytes read and not parsed yet: part of a head or of a chunk-size line, or, after an
    /// upgrade request, what the client sent after it (the tunnel's, if the replica agrees).
    private var unparsed: ByteBuffer?
    /// A read loop is running: a read that arrives meanwhile only appends its bytes.
    private var parsing = false
    private var handlingPipelined = false
    /// The client closed its sending side while its response was being written (plain
    /// HTTP/1.1): the connection closes once that response has ended.
    private var clientInputClosed = false
    /// The router is shutting down: the response in flight is the connection's last.
    private var quiescing = false
    /// The leased upstream's reads were turned off (the client fell behind): they are
    /// turned on again before the connection goes back to the pool.
    private var upstreamReadsPaused = false
    private var upstreamNeedsFlush = false
    /// A final response head went to the client and its end has not: a parser error now can
    /// only close the connection, not answer.
    private var responseInProgress = false
    /// The place of the request in the upstream's queue while it waits for a connection.
    private var queuedAs: (upstream: Upstream, ticket: UInt64)?
    /// How long the connection may sit between requests before it is closed.
    private let idleTimeout: TimeAmount
    /// How long the leased upstream may take to send a response head.
    private let responseHeadTimeout: TimeAmount
    /// How long a request's whole exchange may take, from its head arriving.
    private let maxRequestDuration: TimeAmount
    /// Set exactly while no request is in flight.
    private var idleDeadline: NIODeadline?
    /// Set from sending a request upstream until its response head arrives or the exchange ends.
    private var responseHeadDeadline: NIODeadline?
    /// Set from a request head arriving until its exchange ends.
    private var requestDeadline: NIODeadline?
    /// The connection's one timer, for the earliest deadline; deadlines only ever move it
    /// earlier, and when it fires with nothing due it re-arms for the next one. Requests
    /// thus schedule no timer of their own.
    private var timer: Scheduled<Void>?
    /// `--trusted-proxy` ranges, and this connection's peer as the forwarding headers see it.
    private let trustedProxies: [AddressRange]
    private var peer: ForwardingPeer?
    /// The client connection came over TLS (`X-Forwarded-Proto: https`).
    private let overTLS: Bool
    /// The peer and logger of an HTTP/2 connection, worked out once for all its streams.
    private let connectionInfo: ClientConnectionInfo?
    private var timerDeadline: NIODeadline?

    init(
        pool: UpstreamConnectionPool,
        idleTimeout: TimeAmount,
        responseHeadTimeout: TimeAmount,
        maxRequestDuration: TimeAmount = .minutes(15),
        maxRequestBodyBytes: Int,
        maxRequestHeadBytes: Int = 64 * 1024,
        requestHeadTimeout: TimeAmount?,
        hold: Hold,
        tunnels: Tunnels,
        accessLog: AccessLog,
        eject: @escaping @Sendable (Upstream) -> Void,
        logger: Logger,
        trustedProxies: [AddressRange] = [],
        overTLS: Bool = false,
        connectionInfo: ClientConnectionInfo? = nil,
        selectRoute: @escaping @Sendable (String, String, NIODeadline, inout UpstreamSelector.LastHost?) -> RouteSelection
    ) {
        self.trustedProxies = trustedProxies
        self.overTLS = overTLS
        self.connectionInfo = connectionInfo
        self.stateMachine = ProxyConnectionStateMachine(
            maxRequestBodyBytes: maxRequestBodyBytes, holdsRequests: hold.timeout > .zero)
        self.hold = hold
        self.tunnels = tunnels
        self.accessLog = accessLog
        self.eject = eject
        self.requestHeadTimeout = requestHeadTimeout
        self.maxRequestHeadBytes = maxRequestHeadBytes
        self.pool = pool
        self.idleTimeout = idleTimeout
        self.responseHeadTimeout = responseHeadTimeout
        self.maxRequestDuration = maxRequestDuration
        self.logger = logger
        self.selectRoute = selectRoute
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Only an HTTP/1.1 connection puts the handler in its pipeline; an HTTP/2 stream attaches it.
        self.requestParser = ClientRequestParser(maximumHeadSize: self.maxRequestHeadBytes)
        let client = HTTP1ClientSide(context: context, spareBuffer: self.pool.spareWriteBuffer)
        let info =
            self.connectionInfo
            ?? ClientConnectionInfo(channel: context.channel, trustedProxies: self.trustedProxies, logger: self.logger)
        self.attach(client, info: info)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The type by name, not `Self`: in a class method `Self` is the dynamic type, and the
        // compiler does not specialize NIO's generic unwrapping for it (unspecialized, a call
        // costs about 1,000 instructions with a run-time type look-up and a dynamic cast).
        self.clientBytesRead(ProxyServerHandler.unwrapInboundIn(data))
    }

    /// Bytes from an HTTP/1.1 client: requests are parsed from them as they become whole.
    private func clientBytesRead(_ bytes: ByteBuffer) {
        // After a refusal nothing more is read. (Asked in place: `guard let parser` copied the
        // whole parser, its state and scan, through their value witnesses.)
        guard let isDone = self.requestParser?.isDone else { return }
        if self.waitingForHead, self.headDeadline == nil, let timeout = self.requestHeadTimeout {
            self.headDeadline = self.pool.now + timeout
            self.armTimer()
        }
        self.unparsed.appendRead(bytes)
        if isDone || self.divertedToTunnel {
            // After an upgrade request: what follows waits for the replica's answer (and after
            // a 101, for the tunnel), and no more is read until then.
            self.pauseClientReads()
            return
        }
        self.parseRequests()
    }

    /// Hands every whole request part read to `clientSent`; a refusal goes to `refused`. The
    /// parser is worked on in place (a copy would retain and release what it holds).
    private func parseRequests() {
        guard !self.parsing, !self.divertedToTunnel, self.requestParser?.isDone == false else { return }
        self.parsing = true
        defer { self.parsing = false }
        while self.attached, !self.divertedToTunnel, self.requestParser != nil {
            let part: HTTPServerRequestPart?
            if let end = self.requestParser!.dueEnd() {
                part = end
            } else if var buffer = self.unparsed {
                self.unparsed = nil
                do {
                    part = try self.requestParser!.next(&buffer)
                } catch {
                    self.refused(error as! MalformedHTTPMessage)
                    return
                }
                if buffer.readableBytes > 0 { self.unparsed = buffer }
            } else {
                return
            }
            guard let part else { return }
            self.clientSent(part, scan: self.requestParser!.takeScan())
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.clientReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.clientWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.clientClosed()
        context.fireChannelInactive()
    }

    // MARK: - Client side

    func attach(_ client: any ProxyClientSide, info: ClientConnectionInfo) {
        self.client = client
        self.attached = true
        self.logger = info.logger
        self.peer = info.peer
        self.updateIdleTimer()
    }

    func detach() {
        self.stopHolding()
        self.cancelQueuedLease()
        self.stopTimer()
        self.client = nil
        self.attached = false
    }

    /// A request part from the client; `scan` is its head's, when the parser made one.
    func clientSent(_ part: HTTPServerRequestPart, scan: consuming RequestHeadScan? = nil) {
        if !self.pipelined.isEmpty {
            self.holdPipelined(part, scan: scan)
            return
        }
        // A head before the previous response has ended is a pipelined request: it waits.
        if case .head = part, !self.stateMachine.isIdle {
            self.holdPipelined(part, scan: scan)
            return
        }
        self.handle(part, scan: scan)
    }

    /// `parsedScan` is consumed: moved into the state machine's request, not copied.
    private func handle(_ part: HTTPServerRequestPart, scan parsedScan: consuming RequestHeadScan?) {
        switch part {
        case .head(var head):
            self.waitingForHead = false
            self.headDeadline = nil
            // The fields are scanned once, and the Host header normalized once, for routing, the
            // log, the state machine and the forwarded head (`stamp` below only touches
            // `traceparent` and `tracestate`, which the scan does not look at).
            var scan = parsedScan.take() ?? RequestHeadScan(head.headers)
            // A head that came without its fields gets them when they are read or changed
            // here: to ask for an upgrade, or to be stamped with a `traceparent`.
            let stamping = self.accessLog.traceParents.stamps
            if scan.fieldLines != nil, scan.hasUpgrade || stamping {
                head = scan.completing(head)
                scan.fieldLines = nil
            }
            let host = scan.host.map { self.normalizedHost($0) }
            if case .idle = self.stateMachine.state, self.accessLog.isObserved {
                self.access = AccessLogRecord(head: head, host: host, clock: &self.clock)
            }
            if stamping { self.accessLog.traceParents.stamp(&head, into: &self.access) }
            // A new exchange: its own duration limit.
            self.requestDeadline = nil
            let selection = host.map { self.selectRoute($0, head.uri, self.pool.now, &self.lastHost) }
            self.target = head.uri
            self.client?.requestReceived(method: head.method)
            let action = self.stateMachine.requestHeadReceived(
                head,
                scan: scan,
                selection: selection,
                peer: self.peer,
                normalizedHost: host,
                overTLS: self.overTLS
            )
            self.run(action)
        case .body(let buffer):
            self.access?.bytesIn += buffer.readableBytes
            self.run(self.stateMachine.requestBodyReceived(buffer))
        case .end(let trailers):
            self.run(self.stateMachine.requestEndReceived(trailers: trailers))
        }
        self.updateIdleTimer()
    }

    /// `RouteTable.normalizedHost(sent)`, made again only when the client sends another value.
    private func normalizedHost(_ sent: String) -> String {
        if sent == self.lastHostSent { return self.lastHostNormalized }
        let normalized = RouteTable.normalizedHost(sent)
        self.lastHostSent = sent
        self.lastHostNormalized = normalized
        return normalized
    }

    private func holdPipelined(_ part: HTTPServerRequestPart, scan: RequestHeadScan?) {
        // Nothing after a closing response, an upgrade or the start of a shutdown is handled.
        guard !self.stateMachine.isFinished, !self.quiescing else { return }
        self.pipelined.append((part, scan))
        self.pauseReadsForPipelining(true)
    }

    /// Runs after a response has ended: hands the pipelined requests on in order until one
    /// is in flight again, then answers a held parser error.
    private func handlePipelined() {
        guard !self.handlingPipelined, self.client != nil else { return }
        guard !self.stateMachine.isFinished, !self.quiescing else {
            self.pipelined.removeAll()
            self.heldError = nil
            return
        }
        self.handlingPipelined = true
        defer { self.handlingPipelined = false }
        while let (part, scan) = self.pipelined.first {
            if case .head = part, !self.stateMachine.isIdle { break }
            self.pipelined.removeFirst()
            self.handle(part, scan: scan)
            if self.stateMachine.isFinished {
                self.pipelined.removeAll()
                self.heldError = nil
                break
            }
        }
        // No read completes this batch: what went upstream is flushed here.
        if self.upstreamNeedsFlush {
            self.upstreamNeedsFlush = false
            self.upstream?.flush()
        }
        guard self.pipelined.isEmpty else { return }
        if let heldError = self.heldError {
            guard self.stateMachine.isIdle else { return }
            self.heldError = nil
            self.answer(heldError)
            return
        }
        self.pauseReadsForPipelining(false)
    }

    func clientReadComplete() {
        if self.upstreamNeedsFlush {
            self.upstreamNeedsFlush = false
            self.upstream?.flush()
        }
    }

    func clientWritabilityChanged() {
        // Response backpressure: read from the upstream only while the client keeps up.
        if let upstream, let client {
            self.upstreamReadsPaused = !client.isWritable
            upstream.setReads(!self.upstreamReadsPaused)
        }
    }

    func clientClosed() {
        self.unparsed = nil
        self.pipelined.removeAll()
        self.heldError = nil
        self.emitAccessLog()
        self.stopHolding()
        self.cancelQueuedLease()
        self.stopTimer()
        switch self.stateMachine.clientClosed() {
        case .closeUpstream:
            if let upstream = self.takeUpstream() {
                self.pool.release(upstream, reusable: false)
            }
        case .none:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // I/O errors leave the connection in an unknown state.
        self.logger.debug("client connection error", metadata: ["error": "\(error)"])
        self.client?.close()
    }

    /// Requests the parser refuses get 431 when the head is over the size limit and 400 for
    /// everything else (conflicting `Content-Length` and `Transfer-Encoding`, duplicate
    /// lengths, invalid header names or values); the parser then stops, so nothing of such a
    /// request is forwarded. A refusal after a whole request waits until the responses before
    /// it have ended; one during a response in progress can only cut it off.
    private func refused(_ malformed: MalformedHTTPMessage) {
        self.logger.debug("client sent a malformed request", metadata: ["error": "\(malformed)"])
        self.requestParser = nil
        self.unparsed = nil
        if !self.pipelined.isEmpty || self.stateMachine.isAwaitingResponse {
            self.heldError = malformed
            self.pauseReadsForPipelining(true)
            return
        }
        self.answer(malformed)
    }

    private func answer(_ malformed: MalformedHTTPMessage) {
        guard let client else { return }
        guard !self.responseInProgress else {
            client.close()
            return
        }
        let response: LocalResponse =
            malformed.tooLarge
            ? .refusal(.requestHeaderFieldsTooLarge, "\(malformed); it was not forwarded")
            : .refusal(.badRequest, "the request is not valid HTTP/1.1 (\(malformed)); it was not forwarded")
        client.writeHead(response.head)
        client.writeBody(client.allocator.buffer(string: response.body))
        client.writeEnd(nil, thenClose: true)
    }

    /// An HTTP/1.1 connection's half-close and the router's shutdown (an HTTP/2 stream's
    /// handler never sees either: its connection handles them).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard self.requestHeadTimeout != nil else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch event {
        case ChannelEvent.inputClosed:
            self.clientInputEnded()
        case is ChannelShouldQuiesceEvent:
            self.quiesce()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The HTTP/1.1 client stopped sending.
    private func clientInputEnded() {
        // A request cut short is refused first, as NIO's decoder did at the end of input.
        do {
            try self.requestParser?.inputEnded(unparsed: self.unparsed?.readableBytes ?? 0)
        } catch {
            self.refused(error as! MalformedHTTPMessage)
        }
        self.clientClosedInput()
    }

    /// A response being written is finished, then the connection closes (`writeEnd`);
    /// nothing after it is answered. Before any of its answer has gone out, a client that
    /// closes is taken to have left, as nginx does: its request is given up (logged 499),
    /// its place in an upstream's queue freed.
    func clientClosedInput() {
        guard self.responseInProgress else {
            self.client?.close()
            return
        }
        self.clientInputClosed = true
        self.pipelined.removeAll()
        self.heldError = nil
    }

    /// The router is shutting down: the response in flight is the last, marked
    /// `Connection: close` (`writeEnd`).
    func quiesce() {
        self.quiescing = true
        self.pipelined.removeAll()
        if self.stateMachine.isIdle {
            self.client?.close()
        }
    }

    // MARK: - Actions

    private func run(_ action: ProxyConnectionStateMachine.RequestAction) {
        switch action {
        case .none:
            break
        case .connect(let target):
            self.connect(target)
        case .respond(let response):
            self.respond(response)
        case .forward(let part):
            if self.upstream?.write(part) == true {
                self.upstreamNeedsFlush = true
            }
            // Request backpressure: stop reading from the client while the upstream is slow.
            if let upstream, !upstream.isWritable {
                self.pauseClientReads()
            }
        case .pauseClientReads:
            self.pauseClientReads()
        case .drained(let closeConnection):
            if closeConnection || self.quiescing || self.clientInputClosed {
                self.client?.close()
            }
        case .abort(let response):
            if let upstream = self.takeUpstream() {
                self.pool.release(upstream, reusable: false)
            }
            self.stopHolding()
            self.cancelQueuedLease()
            if let response {
                self.respond(response)
            } else {
                self.client?.close()
            }
        case .hold(let host):
            self.startHolding(host: host)
        }
    }

    // MARK: - Held requests

    private func startHolding(host: String) {
        guard let client else { return }
        self.holdTimer = client.eventLoop.assumeIsolated().scheduleTask(in: self.hold.timeout) {
            self.holdTimer = nil
            self.stopHolding()
            if let response = self.stateMachine.holdTimedOut(after: self.hold.timeout) {
                self.respond(response)
                self.updateIdleTimer()
            }
        }
        self.waitForReplicas(host: host)
        // The table may have changed between the lookup and the registration.
        self.replicasMayHaveChanged(host: host)
    }

    private func waitForReplicas(host: String) {
        guard let client else { return }
        let loopBound = NIOLoopBound(self, eventLoop: client.eventLoop)
        let id = self.hold.requests.add(host: host, eventLoop: client.eventLoop) {
            loopBound.value.heldAs = nil
            loopBound.value.replicasMayHaveChanged(host: host)
        }
        self.heldAs = (host, id)
    }

    private func replicasMayHaveChanged(host: String) {
        switch self.stateMachine.replicasChanged(self.selectRoute(host, self.target, self.pool.now, &self.lastHost)) {
        case .none:
            break
        case .keepHolding:
            if self.heldAs == nil { self.waitForReplicas(host: host) }
        case .connect(let target):
            self.stopHolding()
            self.connect(target)
        case .respond(let response):
            self.stopHolding()
            self.respond(response)
            self.updateIdleTimer()
        }
    }

    private func stopHolding() {
        self.holdTimer?.cancel()
        self.holdTimer = nil
        if let heldAs {
            self.hold.requests.remove(host: heldAs.host, id: heldAs.id)
            self.heldAs = nil
        }
    }

    private func run(_ action: ProxyConnectionStateMachine.ConnectAction, connection: UpstreamConnection?) {
        switch action {
        case .none:
            if let connection { self.pool.release(connection, reusable: false) }
        case .send(let outgoing):
            guard let connection else { preconditionFailure("send without a connection") }
            self.upstream = connection
            self.access?.replicaID = connection.upstream.replicaID
            connection.receiver = self
            self.resumeClientReads()
            connection.send(outgoing)
            self.startResponseHeadTimer()
            if !connection.isWritable {
                self.pauseClientReads()
            }
        case .releaseUnused:
            if let connection { self.pool.release(connection, reusable: true) }
        case .connect(let target):
            self.connect(target)
        case .respond(let response):
            self.respond(response)
        }
    }

    private func connect(_ target: ProxyConnectionStateMachine.ConnectTarget) {
        let upstream: Upstream
        let allowIdle: Bool
        switch target {
        case .pooledOrNew(let u): (upstream, allowIdle) = (u, true)
        case .new(let u): (upstream, allowIdle) = (u, false)
        }
        let lease = self.pool.lease(upstream, allowIdle: allowIdle, waiter: self, hint: &self.leaseHint)
        switch lease {
        case .idle(let connection):
            self.run(self.stateMachine.upstreamConnected(reused: true), connection: connection)
        case .connecting(let future):
            self.awaitConnection(future, to: upstream)
        case .queued(let ticket):
            self.queuedAs = (upstream, ticket)
        case .refused(let refusal):
            self.upstreamBusy(upstream, refusal)
        }
    }

    private func awaitConnection(_ future: EventLoopFuture<UpstreamConnection>, to upstream: Upstream) {
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                self.run(self.stateMachine.upstreamConnected(reused: false), connection: connection)
                self.updateIdleTimer()
            case .failure(let error):
                self.connectFailed(upstream, reason: UpstreamConnectionPool.describeConnectError(error))
            }
        }
    }

    private func upstreamBusy(_ upstream: Upstream, _ refusal: UpstreamConnectionPool.QueueRefusal) {
        self.logger.warning(
            "upstream busy: no connection for the request",
            metadata: [
                "replica.id": "\(upstream.replicaID)", "upstream.address": "\(upstream.host):\(upstream.port)",
                "reason": "\(refusal)",
            ]
        )
        self.run(self.stateMachine.upstreamBusy(refusal), connection: nil)
        self.updateIdleTimer()
    }

    private func cancelQueuedLease() {
        if let queuedAs {
            self.queuedAs = nil
            self.pool.cancelWait(queuedAs.ticket, upstream: queuedAs.upstream)
        }
    }

    private func connectFailed(_ upstream: Upstream, reason: String) {
        self.eject(upstream)
        self.logger.warning(
            "could not connect to upstream",
            metadata: [
                "replica.id": "\(upstream.replicaID)", "upstream.address": "\(upstream.host):\(upstream.port)",
                "error": "\(reason)",
            ]
        )
        self.run(self.stateMachine.upstreamConnectFailed(reason: reason), connection: nil)
        self.updateIdleTimer()
    }

    private func respond(_ response: LocalResponse) {
        guard let client else { return }
        self.resumeClientReads()
        self.access?.status = Int(response.status.code)
        self.access?.replicaID = nil
        self.responseInProgress = true
        client.writeHead(self.lastIfQuiescing(response.head))
        if !response.omitBody {
            let body = client.allocator.buffer(string: response.body)
            self.access?.bytesOut += body.readableBytes
            client.writeBody(body)
        }
        self.writeEnd(nil, closeAfter: response.closeConnection)
    }

    /// Writes the end of a response; last, because the next pipelined request is handled
    /// from here (re-entering this handler).
    private func writeEnd(_ trailers: HTTPHeaders?, closeAfter: Bool) {
        guard let client else { return }
        self.emitAccessLog()
        self.responseInProgress = false
        client.writeEnd(trailers, thenClose: closeAfter || self.quiescing || self.clientInputClosed)
        if !self.pipelined.isEmpty || self.heldError != nil {
            self.handlePipelined()
        }
    }

    /// While the router shuts down, a response says it is the connection's last.
    private func lastIfQuiescing(_ head: HTTPResponseHead) -> HTTPResponseHead {
        guard self.quiescing, head.isKeepAlive else { return head }
        var head = head
        head.headers.replaceOrAdd(name: "connection", value: "close")
        return head
    }

    /// Hands the finished request's access log entry over, once.
    private func emitAccessLog() {
        // Moved out, not copied: the record's strings go into the entry as they are.
        guard let access = self.access.take() else { return }
        self.accessLog.record(access.entry())
    }

    /// Sets the idle deadline exactly while no request is in flight, and the request
    /// deadline exactly while one is.
    private func updateIdleTimer() {
        guard self.client != nil else { return }
        switch self.stateMachine.state {
        case .idle:
            self.requestDeadline = nil
            if !self.divertedToTunnel {
                self.waitingForHead = true
                // The start of the next head came while the last response went out: its time
                // runs from now (no read is left to start it).
                if self.headDeadline == nil, let timeout = self.requestHeadTimeout, self.unparsed?.readableBytes ?? 0 > 0 {
                    self.headDeadline = self.pool.now + timeout
                }
            }
            if self.idleDeadline == nil { self.idleDeadline = self.pool.now + self.idleTimeout }
        case .upgraded, .closed:
            self.idleDeadline = nil
            self.requestDeadline = nil
        case .holding, .connecting, .forwarding, .draining:
            self.idleDeadline = nil
            if self.requestDeadline == nil { self.requestDeadline = self.pool.now + self.maxRequestDuration }
        }
        self.armTimer()
    }

    private func startResponseHeadTimer() {
        self.responseHeadDeadline = self.pool.now + self.responseHeadTimeout
        self.armTimer()
    }

    private func cancelResponseHeadTimer() {
        self.responseHeadDeadline = nil
    }

    /// Makes sure the timer fires by the earliest deadline.
    private func armTimer() {
        guard let client else { return }
        let earliest = { (a: NIODeadline?, b: NIODeadline?) -> NIODeadline? in
            guard let a, let b else { return a ?? b }
            return min(a, b)
        }
        let requestOrHead = earliest(self.requestDeadline, self.headDeadline)
        guard let next = earliest(earliest(self.idleDeadline, self.responseHeadDeadline), requestOrHead) else {
            return  // a timer still armed fires, finds nothing due and stops
        }
        if let armed = self.timerDeadline, armed <= next { return }
        self.timerDeadline = next
        if client.armSharedTimer(at: next) { return }
        self.timer?.cancel()
        self.timer = client.eventLoop.assumeIsolated().scheduleTask(deadline: next) {
            self.timer = nil
            self.timerDeadline = nil
            self.timerFired()
        }
    }

    /// The connection's shared timer (`ProxyClientSide.armSharedTimer`) reached this handler's deadline.
    func sharedTimerFired() {
        self.timerDeadline = nil
        self.timerFired()
    }

    private func stopTimer() {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        self.idleDeadline = nil
        self.responseHeadDeadline = nil
        self.requestDeadline = nil
        self.headDeadline = nil
    }

    private func timerFired() {
        let now = NIODeadline.now()
        if let deadline = self.headDeadline, deadline <= now {
            self.headDeadline = nil
            self.requestHeadTimedOut()
        } else if let deadline = self.requestDeadline, deadline <= now {
            self.requestDeadline = nil
            self.requestDurationExceeded()
        } else if let deadline = self.responseHeadDeadline, deadline <= now {
            self.responseHeadDeadline = nil
            self.responseHeadTimedOut()
        } else if let deadline = self.idleDeadline, deadline <= now {
            self.idleDeadline = nil
            if case .idle = self.stateMachine.state {
                self.logger.debug("closing idle client connection")
                self.client?.close()
            }
        }
        self.armTimer()
    }

    /// The head begun `requestHeadTimeout` ago is still not whole: 408, and the connection
    /// closes. Written as bytes, past the state machine: no request was taken in.
    private func requestHeadTimedOut() {
        guard self.waitingForHead, let timeout = self.requestHeadTimeout,
            let connection = self.client as? HTTP1ClientSide
        else { return }
        let response = LocalResponse.refusal(
            .requestTimeout, "the request head did not arrive within \(timeout.shortDescription)")
        connection.writeAndClose(response.encoded)
    }

    private func requestDurationExceeded() {
        let action = self.stateMachine.requestDurationExceeded(limit: self.maxRequestDuration)
        guard action != .none else { return }
        self.logger.warning(
            "request exceeded the maximum duration; cutting it off",
            metadata: [
                "replica.id": "\(self.upstream?.upstream.replicaID ?? "none")",
                "router.max_request_duration": "\(self.maxRequestDuration.shortDescription)",
            ]
        )
        self.run(action)
    }

    private func responseHeadTimedOut() {
        switch self.stateMachine.responseHeadTimedOut(after: self.responseHeadTimeout) {
        case .none:
            break
        case .restartTimer:
            self.startResponseHeadTimer()
        case .closeUpstreamAndRespond(let response):
            if let upstream = self.takeUpstream() {
                self.logger.warning(
                    "upstream sent no response head in time; closing its connection",
                    metadata: [
                        "replica.id": "\(upstream.upstream.replicaID)",
                        "router.response_head_timeout": "\(self.responseHeadTimeout.shortDescription)",
                    ]
                )
                self.pool.release(upstream, reusable: false)
            }
            self.respond(response)
            self.updateIdleTimer()
        }
    }

    /// Hands back the leased upstream connection; its exchange is over, and so is its timer.
    private func takeUpstream() -> UpstreamConnection? {
        self.cancelResponseHeadTimer()
        let upstream = self.upstream
        self.upstream = nil
        upstream?.receiver = nil
        // Reads on (only set when they were turned off: the option costs a dynamic cast).
        if self.upstreamReadsPaused, let upstream {
            self.upstreamReadsPaused = false
            upstream.setReads(true)
        }
        return upstream
    }

    private func pauseClientReads() {
        guard !self.clientReadsPaused else { return }
        self.clientReadsPaused = true
        self.updateClientAutoRead()
    }

    private func resumeClientReads() {
        guard self.clientReadsPaused else { return }
        self.clientReadsPaused = false
        self.updateClientAutoRead()
    }

    private func pauseReadsForPipelining(_ paused: Bool) {
        guard self.readsPausedForPipelining != paused else { return }
        self.readsPausedForPipelining = paused
        self.updateClientAutoRead()
    }

    private func updateClientAutoRead() {
        let autoRead = !self.clientReadsPaused && !self.readsPausedForPipelining
        guard autoRead != self.clientAutoRead, let client else { return }
        self.clientAutoRead = autoRead
        client.setAutoRead(autoRead)
    }

    static func setAutoRead(_ channel: any Channel, _ value: Bool) {
        try? channel.syncOptions?.setOption(.autoRead, value: value)
    }
}

extension ProxyServerHandler: UpstreamLeaseWaiter {
    func leaseGranted(_ grant: UpstreamConnectionPool.Grant) {
        guard let queuedAs = self.queuedAs else { return }
        self.queuedAs = nil
        switch grant {
        case .idle(let connection):
            self.run(self.stateMachine.upstreamConnected(reused: true), connection: connection)
        case .connecting(let future):
            self.awaitConnection(future, to: queuedAs.upstream)
        case .refused(let refusal):
            self.upstreamBusy(queuedAs.upstream, refusal)
        }
        self.updateIdleTimer()
    }
}

extension ProxyServerHandler: UpstreamResponseReceiver {
    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let client else { return }
        let received = self.upstream?.receivedHead
        switch self.stateMachine.responsePartReceived(part, received: received) {
        case .none:
            break
        case .sendInformational(let head):
            client.writeInformational(head)
        case .sendHead(let head, let asReceived, let fieldsInBytes):
            // Streaming the body may take as long as it takes.
            self.cancelResponseHeadTimer()
            self.access?.status = Int(head.status.code)
            self.access?.replicaID = self.upstream?.upstream.replicaID
            self.responseInProgress = true
            if asReceived, !self.quiescing, var received {
                received.headLacksFields = fieldsInBytes
                client.writeHead(head, received: received)
            } else if fieldsInBytes, let received {
                client.writeHead(self.lastIfQuiescing(received.completing(head)))
            } else {
                client.writeHead(self.lastIfQuiescing(head))
            }
        case .sendBody(let buffer):
            self.access?.bytesOut += buffer.readableBytes
            client.writeBody(buffer)
            if !client.isWritable, let upstream, !self.upstreamReadsPaused {
                self.upstreamReadsPaused = true
                upstream.setReads(false)
            }
        case .finish(let trailers, let reuseUpstream, let closeClient):
            if let upstream = self.takeUpstream() {
                self.pool.release(upstream, reusable: reuseUpstream)
            }
            self.resumeClientReads()
            self.writeEnd(trailers, closeAfter: closeClient)
            self.updateIdleTimer()
        case .upgrade(let head, let websocket):
            self.cancelResponseHeadTimer()
            // The connection stays attached (its decoder may still deliver the 101's end)
            // until the tunnel replaces its handlers.
            // An HTTP/2 stream has no byte stream to tunnel (its codec never passes an upgrade on).
            guard let upstream = self.upstream, self.requestHeadTimeout != nil else {
                client.close()
                return
            }
            self.access?.status = Int(head.status.code)
            self.access?.replicaID = upstream.upstream.replicaID
            self.emitAccessLog()
            // The client's next bytes are frames: keep them from the HTTP parser.
            self.divertedToTunnel = true
            self.waitingForHead = false
            self.headDeadline = nil
            client.writeHead(head)
            client.writeEnd(nil, thenClose: false)
            // Out of the decoders' read loops before their handlers are removed.
            let loopBound = NIOLoopBound((self, upstream), eventLoop: client.eventLoop)
            client.eventLoop.execute {
                let (handler, upstream) = loopBound.value
                handler.becomeTunnel(to: upstream, websocket: websocket)
            }
        }
    }

    /// Replaces the HTTP handlers of both connections with a byte tunnel between them.
    private func becomeTunnel(to leased: UpstreamConnection, websocket: Bool) {
        self.upstream = nil
        // A tunnel may stay open for hours: it stops counting against the upstream's limit.
        self.pool.detach(leased)
        #if canImport(Glibc)
            if let connection = self.client as? HTTP1ClientSide, let socket = connection.socket,
                let upstream = leased as? SocketUpstreamConnection
            {
                self.becomeTunnel(client: connection, socket: socket, to: upstream, websocket: websocket)
                return
            }
        #endif
        let clientSide = TunnelHandler(tracksWebSocketFrames: false)
        let replicaSide = TunnelHandler(tracksWebSocketFrames: websocket)
        clientSide.partner = replicaSide
        replicaSide.partner = clientSide
        // Only an HTTP/1.1 connection is upgraded: its bytes become the tunnel's. (Both ends
        // are channels: the connection came from the pool of a NIO loop.)
        guard let connection = self.client as? HTTP1ClientSide, let context = connection.context,
            context.channel.isActive, let upstream = leased as? ChannelUpstreamConnection
        else {
            self.client?.close()
            leased.close()
            return
        }
        guard upstream.channel.isActive else {
            // The replica sent its last bytes with its 101 and closed before the tunnel was
            // set up: the client gets those bytes, then the close.
            connection.writeAndClose(upstream.handler.takeBytesAfterUpgrade() ?? context.channel.allocator.buffer(capacity: 0))
            return
        }
        // Counted before the switch writes the 101's bytes on to the client: a drain that
        // comes once the client has them finds the tunnel. Its go-away runs on the replica's
        // event loop, after this function.
        let loopBound = NIOLoopBound(replicaSide, eventLoop: upstream.channel.eventLoop)
        let id = self.tunnels.add(replicaID: upstream.upstream.replicaID, eventLoop: upstream.channel.eventLoop) {
            loopBound.value.goAway()
        }
        let tunnels = self.tunnels
        upstream.channel.closeFuture.whenComplete { _ in tunnels.remove(id) }
        context.channel.closeFuture.whenComplete { _ in tunnels.remove(id) }
        do {
            let client = context.channel.pipeline.syncOperations
            let replica = upstream.channel.pipeline.syncOperations
            try client.addHandler(clientSide)
            try replica.addHandler(replicaSide)
            // The client's HTTP handler goes first: removing the replica's handler passes on
            // the bytes that came with the 101, which are written to the client as they are.
            client.removeHandler(context: context, promise: nil)
            replica.removeHandler(upstream.handler, promise: nil)
        } catch {
            self.logger.warning("could not set up the upgraded connection", metadata: ["error": "\(error)"])
            tunnels.remove(id)
            context.close(promise: nil)
            upstream.channel.close(promise: nil)
            return
        }
        // A tunnel's client end closes at the client's end of input, as before the upgrade.
        try? context.channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
        Self.setAutoRead(context.channel, true)
        Self.setAutoRead(upstream.channel, true)
        // Reads may have been off (backpressure) when the switch came.
        context.channel.read()
        upstream.channel.read()
        // What the client sent after its upgrade request, until now, goes first; from here
        // on the client's reads reach the tunnel's handler itself.
        if let unparsed = self.unparsed, unparsed.readableBytes > 0 {
            self.unparsed = nil
            clientSide.forwardFromClient(unparsed)
        }
        clientSide.flushToReplica()
    }

    func upstreamReadComplete() {
        self.client?.flush()
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable {
            self.resumeClientReads()
        } else if case .forwarding = self.stateMachine.state {
            self.pauseClientReads()
        }
    }

    func upstreamClosed(reason: String) {
        let closed = self.takeUpstream()
        let action = self.stateMachine.upstreamClosed()
        if action != .none, let closed {
            self.logger.warning(
                "upstream connection closed mid-exchange",
                metadata: ["replica.id": "\(closed.upstream.replicaID)", "reason": "\(reason)"]
            )
        }
        switch action {
        case .none:
            break
        case .connect(let target):
            self.connect(target)
        case .respond(let response):
            self.respond(response)
        case .closeClient:
            self.client?.flush()
            self.client?.close()
        }
        self.updateIdleTimer()
    }
}

#if canImport(Glibc)
    /// An HTTP/1.1 connection on the router's own event loop: its socket's events, in place of
    /// a channel's.
    extension ProxyServerHandler: SocketConnectionDelegate {
        /// Joins the client's socket and the replica's after a 101: a `SocketRelay` takes both
        /// over, and this handler leaves (as it leaves a channel's pipeline).
        fileprivate func becomeTunnel(
            client connection: HTTP1ClientSide, socket: SocketConnection, to upstream: SocketUpstreamConnection,
            websocket: Bool
        ) {
            guard socket.isOpen else {
                upstream.close()
                return
            }
            guard upstream.socket.isOpen else {
                // The replica sent its last bytes with its 101 and closed before the tunnel was
                // set up: the client gets those bytes, then the close.
                connection.writeAndClose(upstream.handler.takeBytesAfterUpgrade() ?? socket.loop.allocator.buffer(capacity: 0))
                return
            }
            let fromReplica = upstream.handler.takeBytesAfterUpgrade()
            let relay = SocketRelay(tunnelling: socket, to: upstream.socket, tracksWebSocketFrames: websocket)
            self.detach()
            // Counted before the bytes after the 101 go on: a drain that comes once the client
            // has them finds the tunnel.
            let loopBound = NIOLoopBound(relay, eventLoop: socket.loop)
            let tunnels = self.tunnels
            let id = tunnels.add(replicaID: upstream.upstream.replicaID, eventLoop: socket.loop) {
                loopBound.value.goAway()
            }
            socket.whenClosed { tunnels.remove(id) }
            upstream.socket.whenClosed { tunnels.remove(id) }
            // What the client sent after its upgrade request goes first, then the replica's
            // bytes after its 101 (through the frame tracker).
            if let unparsed = self.unparsed.take(), unparsed.readableBytes > 0 {
                relay.read(unparsed, isClient: true)
            }
            if let fromReplica, fromReplica.readableBytes > 0 {
                relay.read(fromReplica, isClient: false)
            }
        }

        /// Starts serving `socket`, an accepted client connection on the pool's loop (what
        /// `handlerAdded` does for a channel).
        func start(on socket: SocketConnection) {
            self.requestParser = ClientRequestParser(maximumHeadSize: self.maxRequestHeadBytes)
            let client = HTTP1ClientSide(socket: socket, spareBuffer: self.pool.spareWriteBuffer)
            let info =
                self.connectionInfo
                ?? ClientConnectionInfo(
                    remote: socket.remoteAddress(), local: socket.localAddress(), trustedProxies: self.trustedProxies,
                    logger: self.logger)
            self.attach(client, info: info)
        }

        func connectionRead(_ connection: SocketConnection, _ bytes: ByteBuffer) {
            self.clientBytesRead(bytes)
            self.clientReadComplete()
        }

        func connectionInputEnded(_ connection: SocketConnection) {
            self.clientInputEnded()
        }

        func connectionWritabilityChanged(_ connection: SocketConnection) {
            self.clientWritabilityChanged()
        }

        func connectionClosed(_ connection: SocketConnection, error: SocketError?) {
            if let error { self.logger.debug("client connection error", metadata: ["error": "\(error)"]) }
            self.clientClosed()
            self.detach()
        }
    }
#endif

@available(*, unavailable)
extension ProxyServerHandler: Sendable {}
