import Testing
import YardRouter

/// The client pipeline has no outbound header validator (a handler every response part
/// crossed): a replica's response reaches the client only through NIO's strict parser. These
/// replicas try to inject a header or split the response with bytes the validator used to
/// catch; each must end as a 502 with nothing of the replica's head passed on.
@Suite("Response header injection from a replica", .serialized)
struct RouterResponseHeaderTests {
    static let injections: [String] = [
        // A bare LF inside a value: a second header line for a lenient reader.
        "HTTP/1.1 200 OK\r\nX-A: a\nInjected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A bare CR inside a value.
        "HTTP/1.1 200 OK\r\nX-A: a\rInjected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A NUL inside a value.
        "HTTP/1.1 200 OK\r\nX-A: a\u{0}Injected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A space inside a header name.
        "HTTP/1.1 200 OK\r\nInjected Name: yes\r\nContent-Length: 2\r\n\r\nok",
        // A bare LF in the reason phrase.
        "HTTP/1.1 200 OK\nInjected: yes\r\nContent-Length: 2\r\n\r\nok",
    ]

    @Test(arguments: injections)
    func aResponseHeadWithInvalidBytesBecomes502(_ response: String) async throws {
        let replica = try await ScriptedReplica.start([.send(response)])
        try await withRouter(routes: ["raw.localhost": [replica.upstream]]) { _, port in
            let answer = try await RawConnection.exchange(
                port: port, "GET / HTTP/1.1\r\nHost: raw.localhost\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(answer)")
            #expect(!answer.lowercased().contains("injected"), "\(answer)")
            #expect(replica.requestsSeen >= 1, "the request reached the replica")
        }
        await replica.stop()
    }
}
