import NIOCore
import NIOHTTP1

/// The parts of a client's request that decide how its response is framed and whether the
/// client connection stays open.
struct ClientRequestInfo: Equatable, Sendable {
    var version: HTTPVersion
    var method: HTTPMethod
    var keepAlive: Bool

    init(_ head: HTTPRequestHead) {
        self.init(head, scan: RequestHeadScan(head.headers))
    }

    /// With the head's fields already scanned: only an `Upgrade` field makes it look further.
    init(_ head: HTTPRequestHead, scan: borrowing RequestHeadScan) {
        self.version = head.version
        self.method = head.method
        self.keepAlive = (scan.keepAlive ?? head.isKeepAlive) && !(scan.hasUpgrade && head.upgradeProtocol == nil)
    }

    /// The version the proxy answers with: HTTP/1.0 clients get 1.0 (so no chunked
    /// encoding), everyone else 1.1.
    var responseVersion: HTTPVersion {
        self.version == .http1_0 ? .http1_0 : .http1_1
    }

    /// GET, HEAD, OPTIONS, PUT and DELETE may be retried on another replica when nothing
    /// of them reached the first one.
    var isIdempotent: Bool {
        switch self.method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: true
        default: false
        }
    }

    /// GET, HEAD and OPTIONS change nothing on the server: one that a replica took and never
    /// answered may be sent to another (PUT and DELETE may have been carried out already).
    var isSafe: Bool {
        switch self.method {
        case .GET, .HEAD, .OPTIONS: true
        default: false
        }
    }
}

extension HTTPHeaders {
    /// Headers that describe one connection rather than the message (RFC 9110 §7.6.1).
    /// Framing (`Content-Length`, `Transfer-Encoding`) is handled separately.
    static let hopByHopHeaderNames = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
    ]

    /// Removes hop-by-hop headers, including those the `Connection` header names.
    mutating func removeHopByHopHeaders() {
        guard HeaderScan(self).contains(.hopByHop) else { return }
        self.removeHopByHopHeaders(scanned: .hopByHop)
    }

    /// `removeHopByHopHeaders()` for headers already scanned: nothing to do without `.hopByHop`.
    mutating func removeHopByHopHeaders(scanned: HeaderScan) {
        guard scanned.contains(.hopByHop) else { return }
        let listed = self[canonicalForm: "connection"].map { $0.lowercased() }
        for name in Self.hopByHopHeaderNames {
            self.remove(name: name)
        }
        for name in listed where name != "close" && name != "keep-alive" {
            // Never let a sender strip the framing, the host or the forwarding headers by naming them.
            if ["content-length", "transfer-encoding", "host"].contains(name) || name.hasPrefix("x-forwarded-") {
                continue
            }
            self.remove(name: name)
        }
    }
}

extension HTTPRequestHead {
    /// The request as it is sent upstream: HTTP/1.1 on a keep-alive connection, hop-by-hop
    /// headers removed, `Host` untouched and the forwarding headers set from the connection
    /// (`setForwardingHeaders`).
    /// `scanned` is this head's `RequestHeadScan` when the caller has it.
    func forwardedUpstream(peer: ForwardingPeer?, overTLS: Bool = false, scanned: RequestHeadScan? = nil) -> HTTPRequestHead {
        let (head, appended, _) = self.forwardedUpstreamParts(peer: peer, overTLS: overTLS, scanned: scanned)
        guard let appended else { return head }
        var forwarded = head
        forwarded.headers.appendForwardingFields(appended)
        return forwarded
    }

    /// `forwardedUpstream`, with the edge's own forwarding fields kept apart when the client is
    /// not a trusted proxy and asks for no upgrade (then they are simply added after the
    /// client's fields): `UpstreamRequestEncoder` writes them after the head's fields. The
    /// usual request's head then goes upstream as it came, without a copy of its fields and a
    /// new head (two allocations and about 2,000 instructions per request).
    ///
    /// `framing` says which framing fields the head holds when the scan tells (the usual
    /// request, which needs no rewriting), for `UpstreamRequestEncoder`.
    func forwardedUpstreamParts(
        peer: ForwardingPeer?, overTLS: Bool = false, scanned: RequestHeadScan? = nil
    ) -> (head: HTTPRequestHead, appended: ForwardingFields?, framing: UpstreamRequestEncoder.Framing?) {
        guard let scanned else { return self.forwardedUpstreamParts(peer: peer, overTLS: overTLS, scan: RequestHeadScan(self.headers)) }
        return self.forwardedUpstreamParts(peer: peer, overTLS: overTLS, scan: scanned)
    }

    /// `forwardedUpstreamParts(peer:overTLS:scanned:)` with the scan made: borrowed, not
    /// copied (a copy of a scan retains its strings and its field lines' buffer).
    func forwardedUpstreamParts(
        peer: ForwardingPeer?, overTLS: Bool, scan request: borrowing RequestHeadScan
    ) -> (head: HTTPRequestHead, appended: ForwardingFields?, framing: UpstreamRequestEncoder.Framing?) {
        // One pass finds what needs rewriting; the rest is forwarded as it came.
        let scan = request.fields
        let trusted = peer?.isTrustedProxy == true
        // A Bool, not `appended != nil`: that called the fields' Equatable `!=`, which built
        // and destroyed a pair of optionals through their value witnesses.
        let appends = !(trusted || request.hasUpgrade)
        let appended = appends ? ForwardingFields(peer: peer, originalHost: request.host, overTLS: overTLS) : nil
        if appends, scan.isEmpty, self.version == .http1_1, request.fieldLines == nil || !self.method.isTRACE {
            // No `Transfer-Encoding` (the scan found none), and the length is the client's. The
            // fields go as the client's bytes when they came so (`TRACE` drops its length).
            return (
                self, appended,
                .init(hasLength: request.contentLength != nil, hasTransferEncoding: false, fieldLines: request.fieldLines)
            )
        }
        var headers = request.completing(self).headers
        headers.removeHopByHopHeaders(scanned: scan)
        if scan.contains(.transferEncoding) {
            let isChunked = headers[canonicalForm: "transfer-encoding"].last?.lowercased() == "chunked"
            // The request encoder re-frames the body; keep chunked framing when the client used it.
            headers.remove(name: "transfer-encoding")
            if isChunked && !headers.contains(name: "content-length") {
                headers.add(name: "transfer-encoding", value: "chunked")
            }
        }
        // A client's copy of the old HTTPS mark never goes upstream (it is an `X-Forwarded-` header).
        if scan.contains(.forwarding) { headers.remove(name: Self.retiredHTTPSMarkName) }
        if appends {
            if scan.contains(.forwarding) { headers.removeForwardingHeaders() }
            return (HTTPRequestHead(version: .http1_1, method: self.method, uri: self.uri, headers: headers), appended, nil)
        }
        headers.setForwardingHeaders(
            peer: peer, originalHost: request.host, overTLS: overTLS, clientSentForwarding: scan.contains(.forwarding))
        // `Upgrade` and `Connection` are hop-by-hop: without either there is nothing to look up.
        if scan.contains(.hopByHop), let upgrade = self.upgradeProtocol {
            // The one hop-by-hop exchange a proxy passes on: the replica decides the upgrade.
            headers.add(name: "Connection", value: "Upgrade")
            headers.add(name: "Upgrade", value: upgrade)
        }
        return (HTTPRequestHead(version: .http1_1, method: self.method, uri: self.uri, headers: headers), nil, nil)
    }

    /// The header the HTTPS listener used to mark requests with (now the handler knows it
    /// serves a TLS connection); still dropped from what clients send.
    static let retiredHTTPSMarkName = "x-forwarded-yard-tls"

    /// The protocol an HTTP/1.1 GET asks to switch to, else nil. Only WebSocket
    /// (`Upgrade: websocket` with `Connection: upgrade`) is passed on: any other token
    /// (`h2c`, made-up ones) would turn the connection into a raw tunnel the router no longer
    /// sees into, so it is dropped with the other hop-by-hop headers.
    var upgradeProtocol: String? {
        guard self.version == .http1_1, self.method == .GET,
            self.headers[canonicalForm: "upgrade"].contains(where: { $0.trimmingASCIISpaces.lowercased() == "websocket" }),
            self.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" })
        else { return nil }
        return "websocket"
    }

    /// Asks for an upgrade the router does not pass on (any but WebSocket): answered as a
    /// plain request, then the connection closes, since the parser stops after an upgrade request.
    var asksForRefusedUpgrade: Bool {
        self.headers.contains(name: "upgrade") && self.upgradeProtocol == nil
    }

    /// True when the request carries a body (a non-zero length or chunked framing).
    var declaresBody: Bool {
        RequestHeadScan(self.headers).declaresBody
    }
}

extension HTTPResponseHead {
    /// The upstream's response head as it is relayed to the client, whether the client
    /// connection can stay open after it, and whether the upstream's can (its
    /// `isKeepAlive`).
    ///
    /// Hop-by-hop headers are removed; the response encoder re-frames the body (chunked for
    /// HTTP/1.1 clients when the upstream gave no length). An HTTP/1.0 client gets a
    /// close-delimited body when the length is unknown, so that connection must close.
    ///
    /// `asReceived` says the head goes to an HTTP/1.1 client exactly as it came (no field
    /// changed), so its bytes as read may be written instead of the head.
    ///
    /// `received` is the parser's record of this head when it came from a replica: then this
    /// head has no fields of their own (`UpstreamResponseParser.ReceivedHead`), and they are
    /// made from its bytes unless the head goes out as it came. `fieldsInBytes` says the
    /// head returned still lacks them (the usual case: a keep-alive HTTP/1.1 client).
    func relayed(
        to request: ClientRequestInfo, received: UpstreamResponseParser.ReceivedHead? = nil
    ) -> (head: HTTPResponseHead, keepAlive: Bool, upstreamKeepAlive: Bool, asReceived: Bool, fieldsInBytes: Bool) {
        let scan = received?.scan ?? HeaderScan(self.headers)
        let version = request.responseVersion
        // `Connection: keep-alive` alone (what nginx, gunicorn and Node send) needs no rewriting.
        let onlyKeepAlive = scan.isEmpty || scan == [.hopByHop, .onlyConnectionKeepAlive]
        // Besides the framing, which the encoder rewrites (chunked stays chunked), nothing to
        // change: the bytes as received may go out (`ClientResponseEncoder.writeHeadAsReceived`
        // checks the framing and otherwise writes the head returned here).
        let keptAsItIs = request.keepAlive && version == self.version && version != .http1_0
        let framingAside = scan.subtracting(.transferEncoding)
        let asReceived = keptAsItIs && (framingAside.isEmpty || framingAside == [.hopByHop, .onlyConnectionKeepAlive])
        // The usual response needs no change at all: forward this head as it is (no copy of
        // its headers, no new head, no fields made). An HTTP/1.1 keep-alive exchange is never
        // close-delimited. The upstream's connection stays open by its version, or by
        // `Connection: keep-alive`.
        //
        // An HTTP/2 stream likewise: `HTTP2StreamCodec` drops the `Connection` field and
        // ignores the version, so a rebuilt head would come out as the same frame, which it
        // makes from the bytes. Never close-delimited (the response version is 1.1), so
        // `keepAlive` is the request's.
        if onlyKeepAlive, keptAsItIs || request.version.major == 2 {
            let upstreamKeepAlive = scan.contains(.onlyConnectionKeepAlive) || self.version == .http1_1
            // Says of the client's connection what is true of it too: kept as it is.
            return (self, keptAsItIs || request.keepAlive, upstreamKeepAlive, true, received != nil)
        }
        let head = received?.completing(self) ?? self
        // The upstream's connection, from the scan: without a `Connection` field its version
        // decides, and `Connection: keep-alive` alone keeps it. NIO's `isKeepAlive` searches
        // and splits the fields again (about 7,000 instructions per request when the parser
        // leaves no hint, as `UpstreamResponseParser` does).
        let upstreamKeepAlive =
            !scan.contains(.hopByHop)
            ? head.version == .http1_1 : scan.contains(.onlyConnectionKeepAlive) || head.isKeepAlive
        var headers = head.headers
        headers.removeHopByHopHeaders(scanned: scan)
        if scan.contains(.transferEncoding) {
            headers.remove(name: "transfer-encoding")
        }

        let hasBody =
            !request.method.isHEAD && self.status.code != 204 && self.status.code != 304
            && !(100..<200).contains(self.status.code)
        let lengthKnown = headers.contains(name: "content-length")
        let closeDelimited = hasBody && !lengthKnown && version == .http1_0
        let keepAlive = request.keepAlive && !closeDelimited

        Self.setConnectionSemantics(&headers, version: version, keepAlive: keepAlive)
        return (
            HTTPResponseHead(version: version, status: self.status, headers: headers), keepAlive, upstreamKeepAlive, asReceived,
            false)
    }

    /// A replica's 101 as the client gets it: hop-by-hop headers removed except the upgrade.
    func relayedSwitch(to upgrade: String) -> HTTPResponseHead {
        var headers = self.headers
        let chosen = headers.first(name: "upgrade") ?? upgrade
        headers.removeHopByHopHeaders()
        headers.remove(name: "transfer-encoding")
        headers.remove(name: "content-length")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Upgrade", value: chosen)
        return HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
    }

    /// Adds the `Connection` header a response needs for the client's version.
    static func setConnectionSemantics(_ headers: inout HTTPHeaders, version: HTTPVersion, keepAlive: Bool) {
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if version == .http1_0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
    }
}

/// A response the proxy writes itself (404, 502, 503, …): plain text saying what went wrong.
struct LocalResponse: Equatable, Sendable {
    var status: HTTPResponseStatus
    var message: String
    var version: HTTPVersion
    var omitBody: Bool
    var closeConnection: Bool

    var head: HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(self.message.utf8.count + 1))
        headers.add(name: "Cache-Control", value: "no-store")
        HTTPResponseHead.setConnectionSemantics(&headers, version: self.version, keepAlive: !self.closeConnection)
        return HTTPResponseHead(version: self.version, status: self.status, headers: headers)
    }

    var body: String { self.message + "\n" }
}

extension StringProtocol {
    var trimmingASCIISpaces: Substring {
        var value = Substring(self)
        while value.first == " " || value.first == "\t" { value = value.dropFirst() }
        while value.last == " " || value.last == "\t" { value = value.dropLast() }
        return value
    }
}

extension TimeAmount {
    /// "15m", "60s", "500ms", "1500ms": whole minutes above a minute when exact, whole seconds
    /// when exact, milliseconds otherwise, for messages.
    var shortDescription: String {
        let nanoseconds = self.nanoseconds
        if nanoseconds > 60_000_000_000, nanoseconds % 60_000_000_000 == 0 {
            return "\(nanoseconds / 60_000_000_000)m"
        }
        if nanoseconds % 1_000_000_000 == 0 {
            return "\(nanoseconds / 1_000_000_000)s"
        }
        let milliseconds = (Double(nanoseconds) / 1_000_000).rounded()
        return "\(Int64(milliseconds))ms"
    }
}
