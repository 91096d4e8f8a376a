import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import YardControl
import YardCore
import YardStore

extension APIRoutes {
    /// The largest webhook body read (GitHub's own limit is 25 MB; push payloads are far smaller).
    static let webhookBodyLimit = 5 << 20

    /// PR environments: GitHub-style webhooks, signed with the project's secret (not the
    /// bearer token: GitHub cannot send one). A plain route, since the signature covers the
    /// raw body; the webhook's other operations and `yard environment new --pr`'s are generated.
    func registerWebhooks(on v1: RouterGroup<BasicRequestContext>) {
        v1.post("projects/:project/webhooks/github") { request, context in
            let body = Data(buffer: try await request.body.collect(upTo: Self.webhookBodyLimit))
            let signature = request.headers[HTTPField.Name(WebhookSignature.headerName)!]
            // One answer for an unknown project, a project without a secret and a bad
            // signature: an anonymous caller learns nothing about which projects exist.
            let name = try context.parameters.require("project")
            guard let project = try? store.project(name), let secret = try store.webhookSecret(projectID: project.id),
                WebhookSignature.isValid(header: signature, body: body, secret: secret)
            else {
                context.logger.warning("webhook refused", metadata: ["webhook.signed": "\(signature != nil)"])
                throw YardError(
                    .unauthorized,
                    "the delivery is not signed, or its \(WebhookSignature.headerName) does not match the project's webhook secret "
                        + "(`yard webhook secret` makes one to give GitHub); nothing was done")
            }
            guard let delivery = request.headers[HTTPField.Name("X-GitHub-Delivery")!], !delivery.isEmpty, delivery.utf8.count <= 200
            else {
                throw YardError(.invalidInput, "the delivery has no X-GitHub-Delivery header (GitHub sends one); nothing was done")
            }
            // A signature covers the body only: a captured delivery could be sent again under a
            // new id, so its body counts as seen too.
            guard try store.recordWebhookDelivery(projectID: project.id, deliveryID: delivery, bodyDigest: ContentHash.sha256(body))
            else {
                context.logger.warning("webhook replay refused", metadata: ["project.id": "\(project.id)"])
                throw YardError(
                    .conflict, "delivery \(delivery.prefix(64)) (or one with the same body) was already received: a replay is refused; nothing was done")
            }
            do {
                return try await handleDelivery(request, body: body, project: project, context: context)
            } catch {
                try? store.forgetWebhookDelivery(projectID: project.id, deliveryID: delivery)
                throw error
            }
        }
    }

    /// A signed, first-seen delivery: what its event asks for.
    private func handleDelivery(
        _ request: Request, body: Data, project: ProjectRecord, context: BasicRequestContext
    ) async throws -> Response {
        let event = request.headers[HTTPField.Name("X-GitHub-Event")!] ?? ""
        context.logger.info("webhook", metadata: ["project.id": "\(project.id)", "webhook.event": "\(event)"])
        switch event {
        case "ping":
            return try json(WebhookResultView(event: event, message: "pong: the signature matches"))
        case "pull_request":
            let payload = try YardJSON.decoder().decode(GitHubPullRequestEvent.self, from: body)
            return try await pullRequest(payload, projectID: project.id)
        case "push":
            let payload = try YardJSON.decoder().decode(GitHubPushEvent.self, from: body)
            let outcomes = try await orchestrator.deployPushEvent(
                projectID: project.id, update: GitRefUpdate(ref: payload.ref, old: payload.before, new: payload.after))
            return try json(
                WebhookResultView(
                    event: event, message: outcomes.map(\.message).joined(separator: "; "),
                    deploymentIDs: outcomes.compactMap(\.deployment?.id)))
        default:
            return try json(
                WebhookResultView(event: event, message: "event '\(event)' is not handled (pull_request, push and ping are); ignored"),
                status: .accepted)
        }
    }

    private func pullRequest(_ payload: GitHubPullRequestEvent, projectID: String) async throws -> Response {
        let number = payload.pullRequest?.number ?? payload.number
        switch payload.action {
        case "opened", "reopened", "synchronize":
            guard let head = payload.pullRequest?.head else {
                throw YardError(.invalidInput, "pull_request event without pull_request.head: cannot tell which branch to deploy")
            }
            let outcome = try await orchestrator.openPullRequestEnvironment(
                projectID: projectID, number: number, branch: head.ref, baseBranch: payload.pullRequest?.base?.ref, sha: head.sha)
            return try json(view(outcome, event: "pull_request", action: payload.action), status: outcome.created ? .created : .ok)
        case "closed":
            let outcome = try await orchestrator.closePullRequestEnvironment(projectID: projectID, number: number)
            return try json(view(outcome, event: "pull_request", action: payload.action))
        default:
            return try json(
                WebhookResultView(
                    event: "pull_request", action: payload.action,
                    message:
                        "pull_request action '\(payload.action)' changes nothing here (opened, reopened, synchronize and closed do); ignored"
                ),
                status: .accepted)
        }
    }

    func view(_ outcome: Orchestrator.PullRequestOutcome, event: String, action: String) -> WebhookResultView {
        WebhookResultView(
            event: event, action: action, message: outcome.message,
            environment: outcome.environment.map { EnvironmentView(id: $0.id, name: $0.name) },
            deploymentIDs: outcome.deployments.map(\.id))
    }

    static func webhookPath(_ project: ProjectRecord) -> String {
        "/v1/projects/\(project.name)/webhooks/github"
    }
}

/// The parts of GitHub's `pull_request` event payload that matter here.
struct GitHubPullRequestEvent: Decodable {
    struct PullRequest: Decodable {
        struct Ref: Decodable {
            var ref: String
            var sha: String?
        }
        var number: Int
        var head: Ref?
        var base: Ref?
    }
    var action: String
    var number: Int
    var pullRequest: PullRequest?

    enum CodingKeys: String, CodingKey {
        case action, number
        case pullRequest = "pull_request"
    }
}

/// The parts of GitHub's `push` event payload that matter here.
struct GitHubPushEvent: Decodable {
    var ref: String
    var before: String
    var after: String
}
