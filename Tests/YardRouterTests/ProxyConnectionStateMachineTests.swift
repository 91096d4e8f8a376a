import NIOCore
import NIOHTTP1
import Testing

@testable import YardRouter

@Suite("Proxy connection state machine")
struct ProxyConnectionStateMachineTests {
    typealias Machine = ProxyConnectionStateMachine

    let a = Upstream(host: "127.0.0.1", port: 1001, replicaID: "a")
    let b = Upstream(host: "127.0.0.1", port: 1002, replicaID: "b")

    func request(
        _ method: HTTPMethod = .GET,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = ["Host": "app.localhost"]
    ) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: "/", headers: headers)
    }

    func okHead(_ headers: HTTPHeaders = ["Content-Length": "2"]) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
    }

    func isState(_ machine: Machine, _ check: (Machine.State) -> Bool) -> Bool { check(machine.state) }

    @Test func forwardsARequestAndReusesTheUpstreamAfterAKeepAliveResponse() throws {
        var machine = Machine()
        let head = request()
        #expect(
            machine.requestHeadReceived(head, selection: .upstreams([a, b]), clientIP: "127.0.0.1")
                == .connect(.pooledOrNew(a))
        )
        #expect(machine.requestEndReceived(trailers: nil) == .none)
        guard case .send(let outgoing) = machine.upstreamConnected(reused: false) else {
            Issue.record("expected the buffered request to be sent")
            return
        }
        #expect(outgoing.parts == [.head(head.forwardedUpstream(clientIP: "127.0.0.1")), .end(nil)])
        guard case .sendHead(let relayed, _, _) = machine.responsePartReceived(.head(okHead())) else {
            Issue.record("expected the head to be relayed")
            return
        }
        #expect(relayed.status == .ok)
        let body = ByteBuffer(string: "hi")
        #expect(machine.responsePartReceived(.body(body)) == .sendBody(body))
        #expect(
            machine.responsePartReceived(.end(nil)) == .finish(trailers: nil, reuseUpstream: true, closeClient: false)
        )
        #expect(isState(machine) { if case .idle = $0 { true } else { false } })
    }

    @Test func buffersBodyWhileConnectingAndForwardsItAfterwards() {
        var machine = Machine()
        let head = request(.POST, headers: ["Host": "app.localhost", "Content-Length": "6"])
        _ = machine.requestHeadReceived(head, selection: .upstreams([a]), clientIP: nil)
        let first = ByteBuffer(string: "abc")
        let second = ByteBuffer(string: "def")
        #expect(machine.requestBodyReceived(first) == .none)
        guard case .send(let outgoing) = machine.upstreamConnected(reused: false) else {
            Issue.record("expected the buffered request to be sent")
            return
        }
        #expect(outgoing.parts == [.head(head.forwardedUpstream(clientIP: nil)), .body(.byteBuffer(first))])
        #expect(machine.requestBodyReceived(second) == .forward(.body(.byteBuffer(second))))
        #expect(machine.requestEndReceived(trailers: nil) == .forward(.end(nil)))
    }

    @Test func pausesTheClientWhenTheConnectBufferIsFull() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.POST), selection: .upstreams([a]), clientIP: nil)
        let chunk = ByteBuffer(repeating: 0x61, count: Machine.maxBufferedRequestBytes / 2)
        #expect(machine.requestBodyReceived(chunk) == .none)
        #expect(machine.requestBodyReceived(chunk) == .none)
        #expect(machine.requestBodyReceived(ByteBuffer(string: "x")) == .pauseClientReads)
        #expect(machine.requestBodyReceived(ByteBuffer(string: "y")) == .none)
    }

    @Test func answersUnknownHostsLocallyAndDrainsTheRequestBody() {
        var machine = Machine()
        let action = machine.requestHeadReceived(
            request(.POST),
            selection: .unknownHost("nope.localhost"),
            clientIP: nil
        )
        guard case .respond(let response) = action else {
            Issue.record("expected a local response, got \(action)")
            return
        }
        #expect(response.status == .notFound)
        #expect(response.message == #"no service is routed at host "nope.localhost""#)
        #expect(!response.closeConnection)
        #expect(machine.requestBodyReceived(ByteBuffer(string: "ignored")) == .none)
        #expect(machine.requestEndReceived(trailers: nil) == .drained(closeConnection: false))
        #expect(isState(machine) { if case .idle = $0 { true } else { false } })
    }

    @Test func answers503And400Locally() {
        var machine = Machine()
        guard
            case .respond(let unavailable) = machine.requestHeadReceived(
                request(),
                selection: .noUpstreams("idle.localhost"),
                clientIP: nil
            )
        else {
            Issue.record("expected a local response")
            return
        }
        #expect(unavailable.status == .serviceUnavailable)
        _ = machine.requestEndReceived(trailers: nil)
        guard
            case .respond(let noHost) = machine.requestHeadReceived(
                request(version: .http1_0, headers: [:]),
                selection: nil,
                clientIP: nil
            )
        else {
            Issue.record("expected a local response")
            return
        }
        #expect(noHost.status == .badRequest)
        #expect(noHost.closeConnection, "an HTTP/1.0 request without keep-alive closes the connection")
        #expect(noHost.version == .http1_0)
    }

    @Test func holdsARequestWithoutAReplicaAndSendsItsBufferedBodyWhenOneComes() {
        var machine = Machine(holdsRequests: true)
        let head = request(.POST, headers: ["Host": "app.localhost", "Content-Length": "4"])
        #expect(machine.requestHeadReceived(head, selection: .noUpstreams("app.localhost"), clientIP: nil) == .hold(host: "app.localhost"))
        #expect(machine.requestBodyReceived(ByteBuffer(string: "data")) == .none)
        #expect(machine.requestEndReceived(trailers: nil) == .none)
        #expect(machine.replicasChanged(.noUpstreams("app.localhost")) == .keepHolding)
        #expect(machine.replicasChanged(.upstreams([a, b])) == .connect(.pooledOrNew(a)))
        guard case .send(let outgoing) = machine.upstreamConnected(reused: false) else {
            Issue.record("expected the held request to be sent")
            return
        }
        #expect(outgoing.parts.count == 3, "head, the buffered body and the end: \(outgoing.parts)")
        // Nothing is held any more, so a late timer does nothing.
        #expect(machine.holdTimedOut(after: .seconds(1)) == nil)
    }

    @Test func aHeldRequestGets503WhenNoReplicaComesInTime() {
        var machine = Machine(holdsRequests: true)
        _ = machine.requestHeadReceived(request(), selection: .noUpstreams("app.localhost"), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        let response = machine.holdTimedOut(after: .seconds(30))
        #expect(response?.status == .serviceUnavailable)
        #expect(response?.message.contains("became ready within 30s") == true)
        #expect(isState(machine) { if case .idle = $0 { true } else { false } }, "the connection serves the next request")
    }

    @Test func refusesTwoHostHeadersAndOversizedBodies() {
        var machine = Machine(maxRequestBodyBytes: 10)
        guard case .respond(let twoHosts) = machine.requestHeadReceived(
            request(headers: ["Host": "app.localhost", "host": "other.localhost"]), selection: .upstreams([a]), clientIP: nil)
        else {
            Issue.record("expected a 400")
            return
        }
        #expect(twoHosts.status == .badRequest)
        #expect(twoHosts.closeConnection)

        var declared = Machine(maxRequestBodyBytes: 10)
        guard case .respond(let tooLarge) = declared.requestHeadReceived(
            request(.POST, headers: ["Host": "app.localhost", "Content-Length": "11"]), selection: .upstreams([a]), clientIP: nil)
        else {
            Issue.record("expected a 413")
            return
        }
        #expect(tooLarge.status == .payloadTooLarge)

        var streamed = Machine(maxRequestBodyBytes: 10)
        _ = streamed.requestHeadReceived(
            request(.POST, headers: ["Host": "app.localhost", "Transfer-Encoding": "chunked"]), selection: .upstreams([a]), clientIP: nil)
        _ = streamed.upstreamConnected(reused: false)
        #expect(streamed.requestBodyReceived(ByteBuffer(string: "123456")) == .forward(.body(.byteBuffer(ByteBuffer(string: "123456")))))
        guard case .abort(let cut) = streamed.requestBodyReceived(ByteBuffer(string: "123456")) else {
            Issue.record("expected the request to be cut off")
            return
        }
        #expect(cut?.status == .payloadTooLarge)
    }

    @Test func retriesARefusedIdempotentRequestOnTheNextReplicaUntilNoneIsLeft() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.GET), selection: .upstreams([a, b]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        #expect(machine.upstreamConnectFailed(reason: "connection refused") == .connect(.pooledOrNew(b)))
        guard case .respond(let response) = machine.upstreamConnectFailed(reason: "connection refused") else {
            Issue.record("expected a 502 after the retry failed too")
            return
        }
        #expect(response.status == .badGateway)
        #expect(response.message.contains("replica b"))
        #expect(response.message.contains("connection refused"))
    }

    /// A refused connect sent nothing: a POST goes on to the next replica with the body it
    /// had so far, and the rest follows.
    @Test func aRefusedPOSTGoesOnWithItsBody() {
        var machine = Machine()
        _ = machine.requestHeadReceived(
            request(.POST, headers: ["Host": "app.localhost", "Content-Length": "2"]), selection: .upstreams([a, b]), clientIP: nil)
        #expect(machine.requestBodyReceived(ByteBuffer(string: "x")) == .none)
        #expect(machine.upstreamConnectFailed(reason: "connection refused") == .connect(.pooledOrNew(b)))
        guard case .send(let outgoing) = machine.upstreamConnected(reused: false) else {
            Issue.record("expected the request to go to b")
            return
        }
        #expect(outgoing.body == [ByteBuffer(string: "x")] && !outgoing.end)
        #expect(machine.requestBodyReceived(ByteBuffer(string: "y")) == .forward(.body(.byteBuffer(ByteBuffer(string: "y")))))
    }

    @Test func aRefusedRequestWithNoReplicaLeftGetsA502AndItsBodyIsDiscarded() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.POST), selection: .upstreams([a]), clientIP: nil)
        guard case .respond(let response) = machine.upstreamConnectFailed(reason: "connection refused") else {
            Issue.record("expected a 502")
            return
        }
        #expect(response.status == .badGateway)
        // The request body is still arriving: it is discarded, then the connection is reusable.
        #expect(machine.requestBodyReceived(ByteBuffer(string: "x")) == .none)
        #expect(machine.requestEndReceived(trailers: nil) == .drained(closeConnection: false))
    }

    @Test func retriesOnAFreshConnectionWhenAPooledOneTurnsOutStale() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.GET), selection: .upstreams([a, b]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: true)
        #expect(machine.upstreamClosed() == .connect(.new(a)))
        _ = machine.upstreamConnected(reused: false)
        // The fresh connection closing too means the replica is gone: once to the next one.
        #expect(machine.upstreamClosed() == .connect(.pooledOrNew(b)))
        _ = machine.upstreamConnected(reused: false)
        guard case .respond(let response) = machine.upstreamClosed() else {
            Issue.record("the second replica closing without a response too is a 502")
            return
        }
        #expect(response.status == .badGateway)
        #expect(response.message.contains("replica b"))
        #expect(response.message.contains("closed the connection before sending a response"))
    }

    @Test func sendsABodilessSafeRequestToAnotherReplicaOnceWhenItsReplicaClosesWithoutAnswering() {
        for method in [HTTPMethod.GET, .HEAD, .OPTIONS] {
            var machine = Machine()
            _ = machine.requestHeadReceived(request(method), selection: .upstreams([a, b]), clientIP: nil)
            _ = machine.requestEndReceived(trailers: nil)
            _ = machine.upstreamConnected(reused: false)
            #expect(machine.upstreamClosed() == .connect(.pooledOrNew(b)), "\(method)")
            // b's pooled connection was stale: a fresh one to b, still not a third replica.
            _ = machine.upstreamConnected(reused: true)
            #expect(machine.upstreamClosed() == .connect(.new(b)), "\(method)")
            _ = machine.upstreamConnected(reused: false)
            guard case .respond(let response) = machine.upstreamClosed() else {
                Issue.record("\(method): expected a 502 once the other replica failed too")
                continue
            }
            #expect(response.status == .badGateway)
        }
        // PUT and DELETE may have been carried out; a body may have been consumed; a relayed
        // 1xx is part of an answer.
        var put = Machine()
        _ = put.requestHeadReceived(request(.PUT), selection: .upstreams([a, b]), clientIP: nil)
        _ = put.requestEndReceived(trailers: nil)
        _ = put.upstreamConnected(reused: false)
        guard case .respond = put.upstreamClosed() else { Issue.record("PUT is not sent twice"); return }

        var withBody = Machine()
        _ = withBody.requestHeadReceived(
            request(.GET, headers: ["Host": "app.localhost", "Content-Length": "1"]), selection: .upstreams([a, b]), clientIP: nil)
        _ = withBody.upstreamConnected(reused: false)
        _ = withBody.requestBodyReceived(ByteBuffer(string: "x"))
        _ = withBody.requestEndReceived(trailers: nil)
        guard case .respond = withBody.upstreamClosed() else { Issue.record("a GET with a body is not sent twice"); return }

        var interim = Machine()
        _ = interim.requestHeadReceived(request(.GET), selection: .upstreams([a, b]), clientIP: nil)
        _ = interim.requestEndReceived(trailers: nil)
        _ = interim.upstreamConnected(reused: false)
        _ = interim.responsePartReceived(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: 103))))
        guard case .respond = interim.upstreamClosed() else { Issue.record("after a relayed 103 the request stays"); return }

    }

    /// A drained node takes all its replicas at once, and the rotation may hand two of them
    /// in a row: a safe request moves on until one answers, at most `maxReplicaSwitches`
    /// times, whether the replicas refuse the connection or close it without answering.
    @Test func aSafeRequestMovesOnUpToThreeTimes() {
        let replicas = (0..<6).map { Upstream(host: "127.0.0.1", port: 2000 + $0, replicaID: "r\($0)") }
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.GET), selection: .upstreams(replicas), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        #expect(machine.upstreamConnectFailed(reason: "connection refused") == .connect(.pooledOrNew(replicas[1])))
        _ = machine.upstreamConnected(reused: false)
        #expect(machine.upstreamClosed() == .connect(.pooledOrNew(replicas[2])))
        // r2's pooled connection was stale: a fresh one to r2 first.
        _ = machine.upstreamConnected(reused: true)
        #expect(machine.upstreamClosed() == .connect(.new(replicas[2])))
        _ = machine.upstreamConnected(reused: false)
        #expect(machine.upstreamClosed() == .connect(.pooledOrNew(replicas[3])))
        _ = machine.upstreamConnected(reused: false)
        guard case .respond(let response) = machine.upstreamClosed() else {
            Issue.record("a fourth replica closing too is a 502, not a fifth try")
            return
        }
        #expect(response.status == .badGateway)
        #expect(response.message.contains("replica r3"))

        // PUT is idempotent and nothing reached a replica that refused: it moves on too.
        var put = Machine()
        _ = put.requestHeadReceived(request(.PUT), selection: .upstreams(replicas), clientIP: nil)
        _ = put.requestEndReceived(trailers: nil)
        for next in replicas[1...3] {
            #expect(put.upstreamConnectFailed(reason: "connection refused") == .connect(.pooledOrNew(next)))
        }
        guard case .respond(let refused) = put.upstreamConnectFailed(reason: "connection refused") else {
            Issue.record("a fourth refusal is a 502")
            return
        }
        #expect(refused.message.contains("could not connect to replica r3"))
    }

    @Test func closesTheClientWhenTheUpstreamFailsMidResponse() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: true)
        _ = machine.responsePartReceived(.head(okHead()))
        #expect(machine.upstreamClosed() == .closeClient)
        #expect(machine.clientClosed() == .none)
    }

    @Test func doesNotReuseAnUpstreamThatSaidCloseOrAnsweredEarly() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.responsePartReceived(.head(okHead(["Content-Length": "0", "Connection": "close"])))
        #expect(
            machine.responsePartReceived(.end(nil)) == .finish(trailers: nil, reuseUpstream: false, closeClient: false)
        )

        // The upstream answers (413) before the body is complete: neither reused nor left reading.
        _ = machine.requestHeadReceived(request(.POST), selection: .upstreams([a]), clientIP: nil)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.responsePartReceived(
            .head(HTTPResponseHead(version: .http1_1, status: .payloadTooLarge, headers: ["Content-Length": "0"]))
        )
        #expect(
            machine.responsePartReceived(.end(nil)) == .finish(trailers: nil, reuseUpstream: false, closeClient: false)
        )
        #expect(machine.requestBodyReceived(ByteBuffer(string: "late")) == .none)
        #expect(machine.requestEndReceived(trailers: nil) == .drained(closeConnection: false))
    }

    @Test func closesTheClientAfterAResponseItCannotKeepAlive() {
        var machine = Machine()
        _ = machine.requestHeadReceived(
            request(headers: ["Host": "a", "Connection": "close"]),
            selection: .upstreams([a]),
            clientIP: nil
        )
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: false)
        guard case .sendHead(let head, _, _) = machine.responsePartReceived(.head(okHead())) else {
            Issue.record("expected the head")
            return
        }
        #expect(head.headers["connection"] == ["close"])
        #expect(
            machine.responsePartReceived(.end(nil)) == .finish(trailers: nil, reuseUpstream: true, closeClient: true)
        )
        // A pipelined request after the closing one is ignored.
        #expect(machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil) == .none)
    }

    @Test func saysWhenAPipelinedRequestOrAnErrorMustWait() {
        var machine = Machine()
        #expect(machine.isIdle && !machine.isAwaitingResponse && !machine.isFinished)
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        // The request is still arriving: a parser error in it is answered at once.
        #expect(!machine.isIdle && !machine.isAwaitingResponse)
        _ = machine.requestEndReceived(trailers: nil)
        #expect(!machine.isIdle && machine.isAwaitingResponse)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.responsePartReceived(.head(okHead()))
        #expect(machine.isAwaitingResponse)
        _ = machine.responsePartReceived(.end(nil))
        #expect(machine.isIdle && !machine.isAwaitingResponse && !machine.isFinished)

        _ = machine.requestHeadReceived(
            request(headers: ["Host": "a", "Connection": "close"]), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: true)
        _ = machine.responsePartReceived(.head(okHead()))
        _ = machine.responsePartReceived(.end(nil))
        // After a closing response nothing pipelined is handled.
        #expect(machine.isFinished && !machine.isIdle && !machine.isAwaitingResponse)
    }

    @Test func relaysInterimResponsesOnlyToHTTP11Clients() {
        var machine = Machine()
        _ = machine.requestHeadReceived(
            request(.POST, headers: ["Host": "a", "Expect": "100-continue"]),
            selection: .upstreams([a]),
            clientIP: nil
        )
        _ = machine.upstreamConnected(reused: false)
        let interim = HTTPResponseHead(version: .http1_1, status: .continue)
        #expect(machine.responsePartReceived(.head(interim)) == .sendInformational(interim))
        // The final response still follows normally.
        guard case .sendHead = machine.responsePartReceived(.head(okHead())) else {
            Issue.record("expected the final head")
            return
        }

        var old = Machine()
        _ = old.requestHeadReceived(
            request(.POST, version: .http1_0, headers: ["Host": "a"]),
            selection: .upstreams([a]),
            clientIP: nil
        )
        _ = old.upstreamConnected(reused: false)
        #expect(old.responsePartReceived(.head(interim)) == .none)
    }

    @Test func answers502WhenTheUpstreamSendsNoResponseHeadInTime() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a, b]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: false)
        guard case .closeUpstreamAndRespond(let response) = machine.responseHeadTimedOut(after: .milliseconds(500))
        else {
            Issue.record("a silent upstream is a 502")
            return
        }
        #expect(response.status == .badGateway)
        #expect(response.message.contains("replica a did not answer within 500ms"))
        #expect(!response.closeConnection)
        // The client connection carries on with the next request.
        #expect(isState(machine) { if case .idle = $0 { true } else { false } })
        #expect(machine.responseHeadTimedOut(after: .milliseconds(500)) == .none)
        #expect(
            machine.requestHeadReceived(request(), selection: .upstreams([b]), clientIP: nil)
                == .connect(.pooledOrNew(b))
        )
    }

    @Test func aResponseHeadStopsTheResponseHeadTimeout() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: true)
        _ = machine.responsePartReceived(.head(okHead()))
        #expect(machine.responseHeadTimedOut(after: .seconds(1)) == .none)
        #expect(machine.responsePartReceived(.body(ByteBuffer(string: "ok"))) == .sendBody(ByteBuffer(string: "ok")))
    }

    @Test func aStreamingRequestBodyOrInterimResponseRestartsTheResponseHeadTimeout() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(.POST), selection: .upstreams([a]), clientIP: nil)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.requestBodyReceived(ByteBuffer(string: "part"))
        #expect(machine.responseHeadTimedOut(after: .seconds(1)) == .restartTimer)
        _ = machine.responsePartReceived(.head(HTTPResponseHead(version: .http1_1, status: .processing)))
        #expect(machine.responseHeadTimedOut(after: .seconds(1)) == .restartTimer)
        guard case .closeUpstreamAndRespond(let response) = machine.responseHeadTimedOut(after: .seconds(1)) else {
            Issue.record("no progress for a whole timeout is a 502")
            return
        }
        #expect(response.message.contains("replica a did not answer within 1s"))
        // The rest of the request body is discarded, then the connection is ready again.
        #expect(machine.requestBodyReceived(ByteBuffer(string: "late")) == .none)
        #expect(machine.requestEndReceived(trailers: nil) == .drained(closeConnection: false))
    }

    @Test func handsBackAConnectionThatArrivesAfterTheClientLeft() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        #expect(machine.clientClosed() == .none)
        #expect(machine.upstreamConnected(reused: false) == .releaseUnused)
        #expect(machine.upstreamConnectFailed(reason: "late") == .none)

        var forwarding = Machine()
        _ = forwarding.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = forwarding.upstreamConnected(reused: false)
        #expect(forwarding.clientClosed() == .closeUpstream)
    }
    @Test func aBusyUpstreamGets503WithoutAnythingSent() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        guard case .respond(let response) = machine.upstreamBusy(.queueFull(connections: 4, queued: 8)) else {
            Issue.record("expected a local response")
            return
        }
        #expect(response.status == .serviceUnavailable)
        #expect(response.message.contains("replica a of host \"app.localhost\" is busy"))
        #expect(response.message.contains("all 4 connections the router may open to it are in use and 8 requests are already waiting"))
        #expect(!response.closeConnection)
        #expect(isState(machine) { if case .idle = $0 { true } else { false } })
        // A grant arriving after that is handed back.
        #expect(machine.upstreamBusy(.timedOut(after: .seconds(1), connections: 4)) == .none)
    }

    @Test func aRequestOverTheMaximumDurationGets504BeforeTheResponseStarts() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: false)
        guard case .abort(let response?) = machine.requestDurationExceeded(limit: .minutes(15)) else {
            Issue.record("expected a 504")
            return
        }
        #expect(response.status == .gatewayTimeout)
        #expect(response.message.contains("took longer than the router's limit of 15m"))
        #expect(response.closeConnection)
        #expect(isState(machine) { if case .closed = $0 { true } else { false } })
    }

    @Test func aRequestOverTheMaximumDurationIsCutOffOnceTheResponseStarted() {
        var machine = Machine()
        _ = machine.requestHeadReceived(request(), selection: .upstreams([a]), clientIP: nil)
        _ = machine.requestEndReceived(trailers: nil)
        _ = machine.upstreamConnected(reused: false)
        _ = machine.responsePartReceived(.head(okHead()))
        #expect(machine.requestDurationExceeded(limit: .seconds(1)) == .abort(nil))
        #expect(isState(machine) { if case .closed = $0 { true } else { false } })
        // Between requests there is nothing to cut.
        var idle = Machine()
        #expect(idle.requestDurationExceeded(limit: .seconds(1)) == .none)
    }
}

@Suite("requests for a service with no replica coming")
struct StoppedServiceTests {
    static func request() -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        head.headers.add(name: "Host", value: "app.localhost")
        return head
    }

    @Test("a stopped service's request is answered 503 at once, not held")
    func stoppedIsNotHeld() {
        var machine = ProxyConnectionStateMachine(holdsRequests: true)
        let action = machine.requestHeadReceived(Self.request(), selection: .stopped("app.localhost"), clientIP: nil)
        guard case .respond(let response) = action else {
            Issue.record("expected a local response, got \(action)")
            return
        }
        #expect(response.status == .serviceUnavailable)
        #expect(response.message.contains("none is starting"), "\(response.message)")
    }

    @Test("a held request is answered 503 once its service's deployment crashes for good")
    func heldThenStopped() {
        var machine = ProxyConnectionStateMachine(holdsRequests: true)
        #expect(machine.requestHeadReceived(Self.request(), selection: .noUpstreams("app.localhost"), clientIP: nil) == .hold(host: "app.localhost"))
        guard case .respond(let response) = machine.replicasChanged(.stopped("app.localhost")) else {
            Issue.record("a held request should be answered")
            return
        }
        #expect(response.status == .serviceUnavailable)
    }

    @Test("the selector says stopped for a route that waits for no replica, and noUpstreams for one that does")
    func selectorDistinguishes() {
        let selector = UpstreamSelector()
        selector.replaceTable(RouteTable(routes: [
            .init(host: "crashed.test", upstreams: [], waitsForReplicas: false),
            .init(host: "deploying.test", upstreams: []),
        ]))
        #expect(selector.select(host: "crashed.test") == .stopped("crashed.test"))
        #expect(selector.select(host: "deploying.test") == .noUpstreams("deploying.test"))
    }
}
