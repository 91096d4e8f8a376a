import Foundation
import HTTPTypes
import Logging
import Hummingbird
import Testing

@testable import YardAPI

@Suite("git HTTP backend")
struct GitHTTPBackendTests {
    static func basic(_ credentials: String) -> String { "Basic " + Data(credentials.utf8).base64EncodedString() }

    @Test("the token is the Basic password, or the user name when the password is empty")
    func basicCredential() {
        #expect(GitHTTPBackend.basicCredential(Self.basic("yard:yard_secret")) == "yard_secret")
        #expect(GitHTTPBackend.basicCredential(Self.basic("yard_secret:")) == "yard_secret")
        #expect(GitHTTPBackend.basicCredential(Self.basic("anyone:pa:ss")) == "pa:ss")
        #expect(GitHTTPBackend.basicCredential("basic " + Data("u:t".utf8).base64EncodedString()) == "t")
        #expect(GitHTTPBackend.basicCredential(Self.basic(":")) == nil)
        #expect(GitHTTPBackend.basicCredential("Bearer yard_secret") == nil)
        #expect(GitHTTPBackend.basicCredential("Basic %%%not-base64") == nil)
        #expect(GitHTTPBackend.basicCredential(nil) == nil)
    }

    @Test("CGI headers: Status sets the status, other lines become headers, malformed ones are dropped")
    func cgiHead() {
        let head = CGIProcess.parseHead(
            "Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT\r\nno colon here")
        #expect(head.status.code == 404)
        #expect(head.status.reasonPhrase == "Not Found")
        #expect(head.headers[.contentType] == "text/plain")
        #expect(head.headers[HTTPField.Name("Expires")!] == "Fri, 01 Jan 1980 00:00:00 GMT")
        #expect(head.headers.count == 2)
        let ok = CGIProcess.parseHead("Content-Type: application/x-git-receive-pack-advertisement")
        #expect(ok.status == .ok)
    }

    @Test(
        "the answer ends soon after the CGI program exits, even while a process it left behind holds its output open",
        .timeLimit(.minutes(1)))
    func outputEndsAfterExitDespiteAnInheritedPipe() async throws {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("cgi-test-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: input.path, contents: Data())
        defer { try? FileManager.default.removeItem(at: input) }
        // The background sleep keeps the output pipe's write end for 30 s, as a leaked
        // descriptor in a long-lived replica would.
        let cgi = try CGIProcess.start(
            arguments: ["sh", "-c", "printf 'Status: 201 Created\\r\\nX-Test: yes\\r\\n\\r\\nbody'; sleep 30 & echo $! > \(input.path).pid; exit 3"],
            environment: ["PATH": "/usr/bin:/bin"], input: input, logger: Logger(label: "test"))
        let started = ContinuousClock.now
        let (head, leftover) = try await cgi.readHead()
        #expect(head.status.code == 201)
        var body = leftover
        for await chunk in cgi.output { body.append(chunk) }
        let elapsed = ContinuousClock.now - started
        #expect(String(decoding: body, as: UTF8.self) == "body")
        #expect(elapsed < .seconds(10), "the answer stayed open \(elapsed) while the program had exited")
        let (status, _) = await cgi.finish()
        #expect(status == 3, "the exit status, read from the kernel while Foundation still waits")
        if let text = try? String(contentsOfFile: input.path + ".pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: input.path + ".pid")
    }
}

/// The webhook's exemption from the bearer token covers that one route, not any path ending like it.
@Suite("signed routes")
struct SignedRouteTests {
    @Test func matchesTheWholeRouteOnly() {
        let suffixes = ["/webhooks/github"]
        typealias Auth = BearerAuthMiddleware<BasicRequestContext>
        #expect(Auth.isSignedRoute("/v1/projects/shop/webhooks/github", suffixes: suffixes))
        for path in [
            "/v1/projects/shop/environments/production/webhooks/github", "/v1/projects//webhooks/github",
            "/v1/projects/shop/webhooks/github/secret", "/v1/projects/shop/webhooks/github/", "/v1/other/shop/webhooks/github",
            "/v1/projects/../webhooks/github", "/v1/projects/a%2Fb/webhooks/github", "/v1/projects/shop/pull-requests",
        ] {
            #expect(!Auth.isSignedRoute(path, suffixes: suffixes), "\(path) skips the bearer token")
        }
    }
}
