import Foundation
import HTTPTypes
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
}
