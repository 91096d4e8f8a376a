import NIOCore
import NIOHTTP1

/// Decides what one client connection does, one request at a time (`ProxyServerHandler`
/// holds pipelined requests back until the previous response has been written: see
/// `isIdle`). The channel handlers feed it events and carry out the actions it returns; it
/// holds no channels, so it is tested as a plain value.
struct ProxyConnectionStateMachine {
    /// Request bodies arriving while the upstream connects are buffered up to this many
    /// bytes; beyond it the client connection stops reading until the upstream is there.
    static let maxBufferedRequestBytes = 1 << 20
    /// How many other replicas one request may move on to, as HAProxy's `retries` (3 by
    /// default). It bounds what a request that kills its replica (a "query of death") can
    /// take down.
    static let maxReplicaSwitches = 3

    /// The largest request body forwarded; a larger declared one gets 413, and a chunked
    /// one that grows past it is cut off (413 if no response has started, else a close).
    let maxRequestBodyBytes: Int
    /// Whether a request for a known host with no ready replica waits for one (`.hold`)
    /// instead of getting 503 at once.
    let holdsRequests: Bool

    init(maxRequestBodyBytes: Int = Router.Configuration.defaultMaxRequestBodyBytes, holdsRequests: Bool = false) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.holdsRequests = holdsRequests
    }

    /// A request waiting for its host to get a ready replica.
    struct HeldRequest {
        var head: HTTPRequestHead
        /// The edge's forwarding fields, written after `head`'s (`forwardedUpstreamParts`).
        var forwarding: ForwardingFields?
        /// Which framing fields `head` holds, when the scan told.
        var framing: UpstreamRequestEncoder.Framing?
        var client: ClientRequestInfo
        var host: String
        var hasBody: Bool
        var clientRequestComplete = false
        var bodyBytes = 0
        var upgrade: String? = nil
    }

    /// A request in flight. A class, so that each transition moves one reference in and
    /// out of `state` instead of copying (and then destroying) a head, three strings, an
    /// upstream and an array: that was about a dozen retains and releases per transition,
    /// and a request goes through five or more. Only `state` holds it.
    final class Request {
        /// The head as sent upstream, but for the edge's forwarding fields when they are
        /// kept apart (`forwardedUpstreamParts`).
        let head: HTTPRequestHead
        let forwarding: ForwardingFields?
        /// Which framing fields `head` holds, when the scan told.
        let framing: UpstreamRequestEncoder.Framing?
        let client: ClientRequestInfo
        /// The normalized host, for messages.
        let host: String
        /// The replica this attempt goes to, and the others it may move on to.
        var upstream: Upstream
        var alternatives: [Upstream]
        /// Sent again on a fresh connection after a stale pooled one (once a request).
        var hasRetried = false
        /// How many times it moved to another replica (after a failed connect, or after a
        /// replica closed without answering); at most `maxReplicaSwitches`.
        var replicaSwitches = 0
        /// The client has sent (or declared) body bytes.
        var hasBody: Bool
        /// The client's `.end` has arrived.
        var clientRequestComplete = false
        /// Body bytes received from the client so far.
        var bodyBytes = 0
        /// The protocol the client asked to switch to (`websocket`), if any.
        var upgrade: String? = nil

        init(
            head: HTTPRequestHead, forwarding: ForwardingFields?, framing: UpstreamRequestEncoder.Framing?,
            client: ClientRequestInfo, host: String, upstream: Upstream, alternatives: [Upstream], hasBody: Bool
        ) {
            self.head = head
            self.forwarding = forwarding
            self.framing = framing
            self.client = client
            self.host = host
            self.upstream = upstream
            self.alternatives = alternatives
            self.hasBody = hasBody
        }

        /// Moves this request to the next replica, if one is left and it has not moved
        /// `maxReplicaSwitches` times already.
        func nextReplica() -> Upstream? {
            guard self.replicaSwitches < ProxyConnectionStateMachine.maxReplicaSwitches, !self.alternatives.isEmpty else {
                return nil
            }
            self.replicaSwitches += 1
            self.upstream = self.alternatives.removeFirst()
            return self.upstream
        }
    }

    /// What goes to an upstream once connected: the head, the body parts buffered while
    /// connecting, and the end if the client has sent it. Not an array of parts: that would
    /// be one more allocation per request. The head and its parts are read from the request
    /// rather than copied into the action: a copy retained (and then released) each of
    /// their strings and buffers.
    struct Outgoing: Equatable {
        let request: Request
        var body: [ByteBuffer]
        var end: Bool

        var head: HTTPRequestHead { self.request.head }
        /// Written after `head`'s fields (`forwardedUpstreamParts`).
        var forwarding: ForwardingFields? { self.request.forwarding }
        /// Which framing fields `head` holds, when known.
        var framing: UpstreamRequestEncoder.Framing? { self.request.framing }

        static func == (a: Outgoing, b: Outgoing) -> Bool {
            a.head == b.head && a.forwarding == b.forwarding && a.framing == b.framing && a.body == b.body && a.end == b.end
        }

        /// The same, as request parts, the forwarding fields added to the head.
        var parts: [HTTPClientRequestPart] {
            var head = self.head
            if let fieldLines = self.framing?.fieldLines {
                head.headers = HTTP1Syntax.checkedFields(fieldLines, from: 0)
            }
            if let forwarding { head.headers.appendForwardingFields(forwarding) }
            return [.head(head)] + self.body.map { .body(.byteBuffer($0)) } + (self.end ? [.end(nil)] : [])
        }
    }

    /// One request/response exchange on a connected upstream.
    struct Exchange {
        var reusedConnection: Bool
        var requestFullySent: Bool
        /// A final (non-1xx) response head has been written to the client.
        var responseStarted = false
        /// An interim (1xx) response has been written to the client: a byte of this
        /// replica's answer reached it, so the request is not sent anywhere else.
        var interimRelayed = false
        var upstreamKeepAlive = false
        var clientKeepAlive = false
        /// Request body parts went up or interim responses came back since the response head
        /// timer last started: the exchange is moving, so the timer starts over instead of firing.
        var progressedSinceTimerStarted = false
    }

    enum State {
        /// Waiting for a request head.
        case idle
        /// Waiting for the host to get a ready replica (deploying, restarting, waking from
        /// sleep); body parts are buffered. Indirect: a held request is rare, and its head
        /// and fields inline made every state as large, so that each transition of the usual
        /// request copied and destroyed a large enum through its value witnesses.
        indirect case holding(HeldRequest, buffered: [ByteBuffer], bufferedBytes: Int)
        /// Waiting for an upstream connection; body parts are buffered.
        case connecting(Request, buffered: [ByteBuffer], bufferedBytes: Int)
        /// Request and response flow between the client and the upstream.
        case forwarding(Request, Exchange)
        /// The response is complete but the client is still sending its request body, which is discarded.
        case draining(closeAfter: Bool)
        /// The replica switched protocols: the connection is a byte tunnel now.
        case upgraded
        /// The client connection is closing or closed; nothing more happens.
        case closed
    }

    private(set) var state: State = .idle

    /// Between requests: the next request head may be handled now. A head that arrives in
    /// any other state is a pipelined one and waits until the response in flight has ended
    /// (or, once the connection is closing or tunnelled, is never handled).
    var isIdle: Bool {
        if case .idle = self.state { return true }
        return false
    }

    /// The request in flight has arrived whole and its response has not ended: an error in
    /// what the client sent after it is answered only once that response is out.
    var isAwaitingResponse: Bool {
        switch self.state {
        case .holding(let held, _, _): held.clientRequestComplete
        case .connecting(let request, _, _): request.clientRequestComplete
        case .forwarding(let request, _): request.clientRequestComplete
        case .idle, .draining, .upgraded, .closed: false
        }
    }

    /// The connection will not serve another request (closing, or a tunnel now).
    var isFinished: Bool {
        switch self.state {
        case .upgraded, .closed: true
        case .idle, .holding, .connecting, .forwarding, .draining: false
        }
    }

    // MARK: - Actions

    enum ConnectTarget: Equatable {
        /// Take an idle pooled connection to the upstream if one exists, otherwise connect.
        case pooledOrNew(Upstream)
        /// Open a new connection: a pooled one just turned out to be stale.
        case new(Upstream)
    }

    enum RequestAction: Equatable {
        case none
        /// Get a connection to the upstream.
        case connect(ConnectTarget)
        /// Write this response to the client (then close it when the response says so).
        case respond(LocalResponse)
        /// Send this part to the upstream.
        case forward(HTTPClientRequestPart)
        /// The buffer is full: stop reading from the client until the upstream connects.
        case pauseClientReads
        /// The discarded rest of a request has arrived; close the client connection or read the next request.
        case drained(closeConnection: Bool)
        /// The request went over a limit: drop the upstream connection if one is leased
        /// (never reuse it), then write the response and close, or just close when a
        /// response has already started.
        case abort(LocalResponse?)
        /// Wait until the host has a ready replica, then call `replicasChanged(_:)`; call
        /// `holdTimedOut(after:)` if none comes in time.
        case hold(host: String)
    }

    enum HoldAction: Equatable {
        case none
        /// Still no replica: keep waiting.
        case keepHolding
        case connect(ConnectTarget)
        case respond(LocalResponse)
    }

    enum ConnectAction: Equatable {
        case none
        /// Send the buffered request to the now connected upstream; resume reading from the
        /// client; start the response head timer (see `responseHeadTimedOut(after:)`).
        case send(Outgoing)
        /// The client is gone; the unused connection can go back to the pool.
        case releaseUnused
        case connect(ConnectTarget)
        case respond(LocalResponse)
    }

    enum ResponseAction: Equatable {
        case none
        /// An interim (1xx) response for the client.
        case sendInformational(HTTPResponseHead)
        /// `asReceived`: the head is the upstream's, unchanged; `fieldsInBytes`: it still lacks
        /// its fields, which are in the received bytes (see `relayed(to:received:)`).
        case sendHead(HTTPResponseHead, asReceived: Bool, fieldsInBytes: Bool)
        case sendBody(ByteBuffer)
        /// The response is complete: give the upstream connection back (to be reused or
        /// closed), write the end to the client, and close the client connection if asked.
        case finish(trailers: HTTPHeaders?, reuseUpstream: Bool, closeClient: Bool)
        /// The replica accepted the upgrade: write this 101 and turn both connections into a
        /// tunnel (`websocket` says whether to track WebSocket frames).
        case upgrade(HTTPResponseHead, websocket: Bool)
    }

    enum ResponseHeadTimeoutAction: Equatable {
        /// The response head arrived or the exchange ended: the timer is stale.
        case none
        /// The exchange is still moving: start the timer again.
        case restartTimer
        /// Close the upstream connection (never reuse it) and write this response to the client.
        case closeUpstreamAndRespond(LocalResponse)
    }

    enum UpstreamClosedAction: Equatable {
        case none
        /// A pooled connection was stale: try again on a new connection.
        case connect(ConnectTarget)
        case respond(LocalResponse)
        /// The response had started: the client connection has to close to signal the failure.
        case closeClient
    }

    enum ClientClosedAction: Equatable {
        case none
        /// Close the upstream connection: it is mid-exchange and cannot be reused.
        case closeUpstream
    }

    // MARK: - Client events

    /// A request head arrived. `selection` is nil when the request has no `Host` header;
    /// `normalizedHost` is that header normalized, and `scanned` the head's fields scanned,
    /// when the caller has them already.
    mutating func requestHeadReceived(
        _ head: HTTPRequestHead,
        scanned: RequestHeadScan? = nil,
        selection: RouteSelection?,
        peer: ForwardingPeer?,
        normalizedHost: String? = nil,
        overTLS: Bool = false
    ) -> RequestAction {
        self.requestHeadReceived(
            head, scan: scanned ?? RequestHeadScan(head.headers), selection: selection, peer: peer,
            normalizedHost: normalizedHost, overTLS: overTLS)
    }

    /// The same with the scan made: borrowed, not copied (a copy of a scan retains its
    /// strings and its field lines' buffer, about 300 instructions).
    mutating func requestHeadReceived(
        _ head: HTTPRequestHead,
        scan: borrowing RequestHeadScan,
        selection: RouteSelection?,
        peer: ForwardingPeer?,
        normalizedHost: String?,
        overTLS: Bool
    ) -> RequestAction {
        guard case .idle = self.state else {
            // Only `.closed` gets here: a pipelined request after a closing response.
            return .none
        }
        let client = ClientRequestInfo(head, scan: scan)
        let declaresBody = scan.declaresBody
        if scan.hasMoreThanOneHost {
            // Two Host headers could route one way here and another way upstream.
            return .respond(self.refuse(.badRequest, "the request has more than one Host header", client: client))
        }
        if let length = scan.contentLength.flatMap({ Int($0.trimmingASCIISpaces) }),
            length > self.maxRequestBodyBytes
        {
            return .respond(
                self.refuse(
                    .payloadTooLarge,
                    "the request body (\(length) bytes) is larger than the router's limit of \(self.maxRequestBodyBytes) bytes",
                    client: client
                )
            )
        }
        let noReplica = { (host: String) in
            "service at host \"\(host)\" has no running replica; deploy it or wait for its deployment to become active"
        }
        let response: LocalResponse
        switch selection {
        case nil:
            response = self.respondLocally(
                .badRequest,
                "the request has no Host header; send the domain of the service you want to reach",
                client: client,
                requestComplete: false
            )
        case .unknownHost(let host):
            response = self.respondLocally(
                .notFound,
                "no service is routed at host \"\(host)\"",
                client: client,
                requestComplete: false
            )
        case .noUpstreams(let host) where self.holdsRequests:
            // Taken apart at once, so each part moves on instead of the tuple being copied.
            let (forwardedHead, appended, framing) = head.forwardedUpstreamParts(peer: peer, overTLS: overTLS, scan: scan)
            var held = HeldRequest(
                head: forwardedHead, forwarding: appended, framing: framing, client: client, host: host, hasBody: declaresBody)
            held.upgrade = scan.hasUpgrade ? head.upgradeProtocol : nil
            self.state = .holding(held, buffered: [], bufferedBytes: 0)
            return .hold(host: host)
        case .noUpstreams(let host):
            response = self.respondLocally(.serviceUnavailable, noReplica(host), client: client, requestComplete: false)
        case .stopped(let host):
            response = self.respondLocally(.serviceUnavailable, Self.stoppedMessage(host), client: client, requestComplete: false)
        case .upstreams(let upstreams):
            guard let first = upstreams.first else {
                let host = RouteTable.normalizedHost(scan.host ?? "")
                response = self.respondLocally(
                    .serviceUnavailable,
                    noReplica(host),
                    client: client,
                    requestComplete: false
                )
                break
            }
            // Taken apart at once, so each part moves on instead of the tuple being copied.
            let (forwardedHead, appended, framing) = head.forwardedUpstreamParts(peer: peer, overTLS: overTLS, scan: scan)
            let request = Request(
                head: forwardedHead,
                forwarding: appended,
                framing: framing,
                client: client,
                host: normalizedHost ?? RouteTable.normalizedHost(scan.host ?? ""),
                upstream: first,
                alternatives: Array(upstreams.dropFirst()),
                hasBody: declaresBody
            )
            request.upgrade = scan.hasUpgrade ? head.upgradeProtocol : nil
            self.state = .connecting(request, buffered: [], bufferedBytes: 0)
            return .connect(.pooledOrNew(first))
        }
        return .respond(response)
    }

    mutating func requestBodyReceived(_ buffer: ByteBuffer) -> RequestAction {
        switch self.state {
        case .connecting(let request, var buffered, let bytes):
            request.hasBody = true
            request.bodyBytes += buffer.readableBytes
            if request.bodyBytes > self.maxRequestBodyBytes {
                return .abort(self.bodyTooLarge(request))
            }
            buffered.append(buffer)
            let total = bytes + buffer.readableBytes
            self.state = .connecting(request, buffered: buffered, bufferedBytes: total)
            let crossedLimit = bytes <= Self.maxBufferedRequestBytes && total > Self.maxBufferedRequestBytes
            return crossedLimit ? .pauseClientReads : .none
        case .holding(var held, var buffered, let bytes):
            held.hasBody = true
            held.bodyBytes += buffer.readableBytes
            if held.bodyBytes > self.maxRequestBodyBytes {
                return .abort(
                    self.refuse(
                        .payloadTooLarge,
                        "the request body is larger than the router's limit of \(self.maxRequestBodyBytes) bytes",
                        client: held.client
                    )
                )
            }
            buffered.append(buffer)
            let total = bytes + buffer.readableBytes
            self.state = .holding(held, buffered: buffered, bufferedBytes: total)
            let crossedLimit = bytes <= Self.maxBufferedRequestBytes && total > Self.maxBufferedRequestBytes
            return crossedLimit ? .pauseClientReads : .none
        case .forwarding(let request, var exchange):
            request.hasBody = true
            request.bodyBytes += buffer.readableBytes
            if request.bodyBytes > self.maxRequestBodyBytes {
                if exchange.responseStarted {
                    self.state = .closed
                    return .abort(nil)
                }
                return .abort(self.bodyTooLarge(request))
            }
            exchange.progressedSinceTimerStarted = true
            self.state = .forwarding(request, exchange)
            return .forward(.body(.byteBuffer(buffer)))
        case .idle, .draining, .upgraded, .closed:
            return .none
        }
    }

    mutating func requestEndReceived(trailers: HTTPHeaders?) -> RequestAction {
        switch self.state {
        case .connecting(let request, let buffered, let bytes):
            request.clientRequestComplete = true
            self.state = .connecting(request, buffered: buffered, bufferedBytes: bytes)
            return .none
        case .holding(var held, let buffered, let bytes):
            held.clientRequestComplete = true
            self.state = .holding(held, buffered: buffered, bufferedBytes: bytes)
            return .none
        case .forwarding(let request, var exchange):
            request.clientRequestComplete = true
            exchange.requestFullySent = true
            self.state = .forwarding(request, exchange)
            return .forward(.end(trailers))
        case .draining(let closeAfter):
            self.state = closeAfter ? .closed : .idle
            return .drained(closeConnection: closeAfter)
        case .idle, .upgraded, .closed:
            return .none
        }
    }

    /// The client connection closed.
    mutating func clientClosed() -> ClientClosedAction {
        let previous = self.state
        self.state = .closed
        if case .forwarding = previous { return .closeUpstream }
        return .none
    }

    // MARK: - Held requests

    static func stoppedMessage(_ host: String) -> String {
        "service at host \"\(host)\" has no running replica and none is starting (its deployment completed, crashed, failed or was taken down); `yard status` and `yard logs` say why"
    }

    /// The route table changed while a request was held: `selection` is its host's entry now.
    mutating func replicasChanged(_ selection: RouteSelection) -> HoldAction {
        guard case .holding(let held, let buffered, let bytes) = self.state else { return .none }
        switch selection {
        case .noUpstreams:
            return .keepHolding
        case .stopped(let host):
            return .respond(
                self.respondLocally(
                    .serviceUnavailable, Self.stoppedMessage(host), client: held.client, requestComplete: held.clientRequestComplete)
            )
        case .unknownHost(let host):
            return .respond(
                self.respondLocally(
                    .notFound, "no service is routed at host \"\(host)\" any more", client: held.client,
                    requestComplete: held.clientRequestComplete)
            )
        case .upstreams(let upstreams):
            guard let first = upstreams.first else { return .keepHolding }
            let request = Request(
                head: held.head, forwarding: held.forwarding, framing: held.framing, client: held.client, host: held.host, upstream: first,
                alternatives: Array(upstreams.dropFirst()), hasBody: held.hasBody
            )
            request.clientRequestComplete = held.clientRequestComplete
            request.bodyBytes = held.bodyBytes
            request.upgrade = held.upgrade
            self.state = .connecting(request, buffered: buffered, bufferedBytes: bytes)
            return .connect(.pooledOrNew(first))
        }
    }

    /// No replica became ready while the request was held.
    mutating func holdTimedOut(after timeout: TimeAmount) -> LocalResponse? {
        guard case .holding(let held, _, _) = self.state else { return nil }
        return self.respondLocally(
            .serviceUnavailable,
            "no replica of host \"\(held.host)\" became ready within \(timeout.shortDescription); the service may be deploying, crashed or stopped: check `yard status`",
            client: held.client,
            requestComplete: held.clientRequestComplete
        )
    }

    // MARK: - Upstream connection events

    mutating func upstreamConnected(reused: Bool) -> ConnectAction {
        switch self.state {
        case .connecting(let request, let buffered, _):
            let exchange = Exchange(reusedConnection: reused, requestFullySent: request.clientRequestComplete)
            self.state = .forwarding(request, exchange)
            return .send(Outgoing(request: request, body: buffered, end: request.clientRequestComplete))
        case .closed:
            return .releaseUnused
        case .idle, .holding, .forwarding, .draining, .upgraded:
            // Only one connect is ever outstanding, and only while connecting; hand the
            // connection back rather than take down the connection over a bookkeeping bug.
            assertionFailure("connected to an upstream in state \(self.state)")
            return .releaseUnused
        }
    }

    /// Connecting failed (refused, timed out, unreachable); nothing reached the upstream.
    mutating func upstreamConnectFailed(reason: String) -> ConnectAction {
        switch self.state {
        case .connecting(let request, let buffered, let bytes):
            // Nothing was sent, so any request may go on, POST too (as nginx and HAProxy do):
            // its body so far is still buffered, and the client's reads wait for the connect.
            if let next = request.nextReplica() {
                self.state = .connecting(request, buffered: buffered, bufferedBytes: bytes)
                return .connect(.pooledOrNew(next))
            }
            return .respond(
                self.badGateway(
                    request,
                    "could not connect to replica \(request.upstream.replicaID) of host \"\(request.host)\" (\(reason)); check that the service listens on its PORT"
                )
            )
        case .closed:
            return .none
        case .idle, .holding, .forwarding, .draining, .upgraded:
            assertionFailure("connect failed in state \(self.state)")
            return .none
        }
    }

    /// `received`: a final head's bytes and scan as its parser kept them (the head part then
    /// comes without fields).
    mutating func responsePartReceived(
        _ part: HTTPClientResponsePart, received: UpstreamResponseParser.ReceivedHead? = nil
    ) -> ResponseAction {
        guard case .forwarding(let request, var exchange) = self.state else {
            return .none
        }
        switch part {
        case .head(let head) where (100..<200).contains(head.status.code) && head.status != .switchingProtocols:
            exchange.progressedSinceTimerStarted = true
            self.state = .forwarding(request, exchange)
            // Interim responses (100 Continue) only make sense to HTTP/1.1 clients.
            guard request.client.version == .http1_1 else { return .none }
            exchange.interimRelayed = true
            self.state = .forwarding(request, exchange)
            var interim = head
            interim.headers.removeHopByHopHeaders()
            interim.version = .http1_1
            return .sendInformational(interim)
        case .head(let head) where head.status == .switchingProtocols:
            guard let upgrade = request.upgrade else {
                // A switch nobody asked for: the connection cannot be trusted any more.
                self.state = .closed
                return .none
            }
            self.state = .upgraded
            return .upgrade(head.relayedSwitch(to: upgrade), websocket: upgrade.lowercased() == "websocket")
        case .head(let head):
            let answer = head.relayed(to: request.client, received: received)
            var (relayed, keepAlive, asReceived, fieldsInBytes) = (answer.head, answer.keepAlive, answer.asReceived, answer.fieldsInBytes)
            if request.upgrade != nil, keepAlive {
                asReceived = false
                if fieldsInBytes, let received {
                    relayed = received.completing(relayed)
                    fieldsInBytes = false
                }
                // The request parser stops after an upgrade request, refused or not: close.
                keepAlive = false
                HTTPResponseHead.setConnectionSemantics(&relayed.headers, version: relayed.version, keepAlive: false)
            }
            exchange.responseStarted = true
            exchange.upstreamKeepAlive = answer.upstreamKeepAlive && request.upgrade == nil
            exchange.clientKeepAlive = keepAlive
            self.state = .forwarding(request, exchange)
            return .sendHead(relayed, asReceived: asReceived, fieldsInBytes: fieldsInBytes)
        case .body(let buffer):
            return .sendBody(buffer)
        case .end(let trailers):
            let reuse = exchange.upstreamKeepAlive && exchange.requestFullySent
            let closeClient = !exchange.clientKeepAlive
            if request.clientRequestComplete || closeClient {
                self.state = closeClient ? .closed : .idle
            } else {
                // The upstream answered before reading the whole body (e.g. 413): discard the rest.
                self.state = .draining(closeAfter: false)
            }
            return .finish(trailers: trailers, reuseUpstream: reuse, closeClient: closeClient)
        }
    }

    /// The response head timer fired: `timeout` passed since the request head went upstream
    /// (or since the exchange last moved) without a final response head.
    mutating func responseHeadTimedOut(after timeout: TimeAmount) -> ResponseHeadTimeoutAction {
        guard case .forwarding(let request, var exchange) = self.state, !exchange.responseStarted else {
            return .none
        }
        // A slow upload (or an upstream sending 102 Processing) is not a silent upstream.
        if exchange.progressedSinceTimerStarted {
            exchange.progressedSinceTimerStarted = false
            self.state = .forwarding(request, exchange)
            return .restartTimer
        }
        return .closeUpstreamAndRespond(
            self.badGateway(
                request,
                "replica \(request.upstream.replicaID) did not answer within \(timeout.shortDescription) (host \"\(request.host)\"); check that the service is not stuck, or raise the router's --upstream-header-timeout for slow endpoints"
            )
        )
    }

    /// The upstream's connections were all in use and its queue was full, or the request
    /// waited in the queue too long; nothing reached the upstream.
    mutating func upstreamBusy(_ refusal: UpstreamConnectionPool.QueueRefusal) -> ConnectAction {
        guard case .connecting(let request, _, _) = self.state else { return .none }
        let why: String
        switch refusal {
        case .queueFull(let connections, let queued):
            why = "all \(connections) connections the router may open to it are in use and \(queued) requests are already waiting"
        case .timedOut(let timeout, let connections):
            why = "none of the \(connections) connections the router may open to it became free within \(timeout.shortDescription)"
        }
        return .respond(
            self.respondLocally(
                .serviceUnavailable,
                "replica \(request.upstream.replicaID) of host \"\(request.host)\" is busy: \(why); retry later, add replicas, or raise the router's --upstream-max-connections",
                client: request.client,
                requestComplete: request.clientRequestComplete
            )
        )
    }

    /// The request's whole exchange has taken longer than `limit` (from its head arriving):
    /// 504 if no response has started, otherwise the connection closes mid-response.
    mutating func requestDurationExceeded(limit: TimeAmount) -> RequestAction {
        let message = { (host: String) in
            "the request to host \"\(host)\" took longer than the router's limit of \(limit.shortDescription) and was cut off; raise --max-request-duration for longer requests"
        }
        switch self.state {
        case .holding(let held, _, _):
            return .abort(self.refuse(.gatewayTimeout, message(held.host), client: held.client))
        case .connecting(let request, _, _):
            return .abort(self.refuse(.gatewayTimeout, message(request.host), client: request.client))
        case .forwarding(let request, let exchange):
            guard !exchange.responseStarted else {
                self.state = .closed
                return .abort(nil)
            }
            return .abort(self.refuse(.gatewayTimeout, message(request.host), client: request.client))
        case .draining:
            self.state = .closed
            return .abort(nil)
        case .idle, .upgraded, .closed:
            return .none
        }
    }

    /// The upstream connection closed (or failed) before the response was complete.
    mutating func upstreamClosed() -> UpstreamClosedAction {
        guard case .forwarding(let request, let exchange) = self.state else {
            return .none
        }
        if exchange.responseStarted {
            self.state = .closed
            return .closeClient
        }
        // A pooled connection the upstream had already closed: nothing was processed, so a
        // body-less idempotent request is safely sent again on a fresh connection.
        if exchange.reusedConnection, !request.hasRetried, request.client.isIdempotent, !request.hasBody,
            request.clientRequestComplete
        {
            request.hasRetried = true
            self.state = .connecting(request, buffered: [], bufferedBytes: 0)
            return .connect(.new(request.upstream))
        }
        // The replica took the request and went away without a byte of answer (killed,
        // crashed, its node drained or gone): a request that changes nothing (GET, HEAD,
        // OPTIONS, no body) goes on to another replica, as nginx's `proxy_next_upstream
        // error` does. More than once: a drained node takes all its replicas at once, and
        // the rotation may hand two of them in a row.
        if !exchange.interimRelayed, request.client.isSafe, !request.hasBody, request.clientRequestComplete,
            let next = request.nextReplica()
        {
            self.state = .connecting(request, buffered: [], bufferedBytes: 0)
            return .connect(.pooledOrNew(next))
        }
        return .respond(
            self.badGateway(
                request,
                "replica \(request.upstream.replicaID) of host \"\(request.host)\" closed the connection before sending a response"
            )
        )
    }

    // MARK: - Helpers

    /// A refusal that closes the connection: what follows the head cannot be trusted.
    private mutating func refuse(_ status: HTTPResponseStatus, _ message: String, client: ClientRequestInfo) -> LocalResponse {
        self.state = .closed
        return LocalResponse(
            status: status,
            message: message,
            version: client.responseVersion,
            omitBody: client.method == .HEAD,
            closeConnection: true
        )
    }

    private mutating func bodyTooLarge(_ request: Request) -> LocalResponse {
        self.refuse(
            .payloadTooLarge,
            "the request body is larger than the router's limit of \(self.maxRequestBodyBytes) bytes",
            client: request.client
        )
    }

    private mutating func badGateway(_ request: Request, _ message: String) -> LocalResponse {
        self.respondLocally(
            .badGateway,
            message,
            client: request.client,
            requestComplete: request.clientRequestComplete
        )
    }

    private mutating func respondLocally(
        _ status: HTTPResponseStatus,
        _ message: String,
        client: ClientRequestInfo,
        requestComplete: Bool
    ) -> LocalResponse {
        let response = LocalResponse(
            status: status,
            message: message,
            version: client.responseVersion,
            omitBody: client.method == .HEAD,
            closeConnection: !client.keepAlive
        )
        if response.closeConnection {
            self.state = .closed
        } else if requestComplete {
            self.state = .idle
        } else {
            self.state = .draining(closeAfter: false)
        }
        return response
    }
}
