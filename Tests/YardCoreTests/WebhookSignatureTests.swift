import Foundation
import Testing
import YardCore

@Suite struct WebhookSignatureTests {
    /// GitHub's documented example ("Validating webhook deliveries").
    let secret = "It's a Secret to Everybody"
    let body = Data("Hello, World!".utf8)
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    @Test func signsLikeGitHub() {
        #expect(WebhookSignature.header(body: body, secret: secret) == expected)
        #expect(WebhookSignature.isValid(header: expected, body: body, secret: secret))
        #expect(
            WebhookSignature.isValid(
                header: expected.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="), body: body, secret: secret))
    }

    @Test func refusesMissingWrongAndMalformedSignatures() {
        #expect(!WebhookSignature.isValid(header: nil, body: body, secret: secret))
        #expect(!WebhookSignature.isValid(header: expected, body: Data("Hello, World?".utf8), secret: secret))
        #expect(!WebhookSignature.isValid(header: expected, body: body, secret: "another secret"))
        #expect(!WebhookSignature.isValid(header: expected, body: body, secret: ""))
        #expect(!WebhookSignature.isValid(header: String(expected.dropLast(2)), body: body, secret: secret))
        #expect(!WebhookSignature.isValid(header: expected.replacingOccurrences(of: "sha256=", with: "sha1="), body: body, secret: secret))
        #expect(!WebhookSignature.isValid(header: "sha256=" + String(repeating: "zz", count: 32), body: body, secret: secret))
        #expect(!WebhookSignature.isValid(header: "", body: body, secret: secret))
    }

    @Test func pullRequestEnvironmentNames() {
        #expect(PullRequestEnvironmentRequest.environmentName(number: 7) == "pr-7")
        #expect(PullRequestEnvironmentRequest.isPullRequestEnvironment("pr-7"))
        #expect(PullRequestEnvironmentRequest.isPullRequestEnvironment("pr-1234"))
        #expect(!PullRequestEnvironmentRequest.isPullRequestEnvironment("pr-"))
        #expect(!PullRequestEnvironmentRequest.isPullRequestEnvironment("pr"))
        #expect(!PullRequestEnvironmentRequest.isPullRequestEnvironment("pr-x"))
        #expect(!PullRequestEnvironmentRequest.isPullRequestEnvironment("staging"))
        #expect(!PullRequestEnvironmentRequest.isPullRequestEnvironment("pr-٣"))
    }
}
