import Crypto
import Foundation

/// GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`,
/// keyed with the webhook's secret.
public enum WebhookSignature {
    public static let headerName = "X-Hub-Signature-256"

    /// The header value GitHub would send for `body`.
    public static func header(body: Data, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `header` is a valid signature of `body`. The comparison takes the same time
    /// whatever the first wrong byte is (swift-crypto's constant-time check).
    public static func isValid(header: String?, body: Data, secret: String) -> Bool {
        guard let header, header.hasPrefix("sha256="), !secret.isEmpty,
            let code = Data(hexString: String(header.dropFirst("sha256=".count))), code.count == SHA256.byteCount
        else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: body, using: SymmetricKey(data: Data(secret.utf8)))
    }
}

/// `POST /v1/projects/{project}/pull-requests`: open (or redeploy) PR environment `pr-<number>`
/// from `branch`, as a GitHub `pull_request` opened event does.
public struct PullRequestEnvironmentRequest: Codable, Sendable, Hashable {
    public var number: Int
    /// The PR's head branch: the environment deploys it.
    public var branch: String
    /// The branch the PR merges into; chooses the environment to copy (default: the one
    /// whose services follow it, else production).
    public var baseBranch: String?
    /// The head commit; default: the branch's head in the project's repository.
    public var sha: String?

    public init(number: Int, branch: String, baseBranch: String? = nil, sha: String? = nil) {
        self.number = number
        self.branch = branch
        self.baseBranch = baseBranch
        self.sha = sha
    }

    /// `pr-<number>`, as Railway names PR environments.
    public static func environmentName(number: Int) -> String { "pr-\(number)" }

    /// Whether `name` is a PR environment's (`pr-<digits>`): `environments.pr` applies there.
    public static func isPullRequestEnvironment(_ name: String) -> Bool {
        name.hasPrefix("pr-") && name.count > 3 && name.dropFirst(3).allSatisfy(\.isASCII) && name.dropFirst(3).allSatisfy(\.isNumber)
    }
}

/// What a webhook delivery or `yard environment new --pr` did.
public struct WebhookResultView: Codable, Sendable, Hashable {
    /// `pull_request`, `push`, `ping` or the event that was ignored.
    public var event: String
    public var action: String?
    /// One line for people (and GitHub's delivery log).
    public var message: String
    /// The PR environment created, redeployed or deleted.
    public var environment: EnvironmentView?
    /// Deployments queued (or SKIPPED) by it.
    public var deploymentIDs: [String]

    public init(event: String, action: String? = nil, message: String, environment: EnvironmentView? = nil, deploymentIDs: [String] = []) {
        self.event = event
        self.action = action
        self.message = message
        self.environment = environment
        self.deploymentIDs = deploymentIDs
    }
}

/// The project's webhook: where to point GitHub, and (only when just generated) its secret.
public struct WebhookView: Codable, Sendable, Hashable {
    /// The path under the API, e.g. `/v1/projects/shop/webhooks/github`.
    public var path: String
    public var secretConfigured: Bool
    /// Present only in the answer that generated it: it is never shown again.
    public var secret: String?

    public init(path: String, secretConfigured: Bool, secret: String? = nil) {
        self.path = path
        self.secretConfigured = secretConfigured
        self.secret = secret
    }
}
