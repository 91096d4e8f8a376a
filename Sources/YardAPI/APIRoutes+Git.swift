import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import YardControl
import YardCore
import YardStore

extension APIRoutes {
    /// How long a push's output follows its deployments before it lets git finish.
    static let pushFollowLimit: Duration = .seconds(10 * 60)

    func registerGit(on v1: RouterGroup<BasicRequestContext>) {
        // Called by the repository's post-receive hook: the answer is the text git shows
        // the pusher ("remote: …"), streamed while the deployments progress.
        v1.post("projects/:project/git/push") { request, context in
            let project = try store.project(try context.parameters.require("project"))
            let push = try await request.decode(as: GitPushRequest.self, context: context)
            for update in push.updates { try update.validate() }
            let outcomes = try await orchestrator.deployPush(projectID: project.id, updates: push.updates)
            return pushResponse(outcomes)
        }
    }

    /// One line per outcome, then each deployment's status changes until it settles, its URL
    /// or its reason.
    private func pushResponse(_ outcomes: [Orchestrator.PushOutcome]) -> Response {
        let statuses = orchestrator.statuses
        let body = ResponseBody { writer in
            for outcome in outcomes {
                try await writer.write(ByteBuffer(string: "switchyard: \(outcome.message)\n"))
                if let deployment = outcome.deployment {
                    try await writer.write(ByteBuffer(string: "switchyard:   deployment \(deployment.id)\n"))
                }
            }
            let followed = outcomes.compactMap { outcome in
                outcome.deployment.flatMap { $0.status == .skipped ? nil : ($0.id, outcome.serviceName ?? "?") }
            }
            // One limit for the whole push, however many deployments it started.
            let deadline = ContinuousClock.now + Self.pushFollowLimit
            for (id, name) in followed {
                let changes = statuses.follow(deploymentID: id)
                var last: DeploymentStatus?
                var current = try store.deployment(id: id)
                while true {
                    if current.status != last {
                        last = current.status
                        try await writer.write(ByteBuffer(string: "switchyard: \(name): \(current.status.rawValue)\n"))
                    }
                    if Self.settled(current.status) { break }
                    let next = await Self.nextChange(changes, before: deadline)
                    guard next else {
                        try await writer.write(
                            ByteBuffer(
                                string:
                                    "switchyard: \(name): still \(current.status.rawValue); follow it with `yard logs --deployment \(id)`\n"
                            ))
                        break
                    }
                    current = try store.deployment(id: id)
                }
                try await writer.write(ByteBuffer(string: try await Self.summary(current, name: name, orchestrator: orchestrator)))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache"], body: body)
    }

    /// Waits for the next status change; false at the deadline, at shutdown or when the stream ends.
    private static func nextChange(_ changes: AsyncStream<DeploymentStatus>, before deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                var iterator = changes.makeAsyncIterator()
                return await iterator.next() != nil
            }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private static func summary(_ deployment: DeploymentRecord, name: String, orchestrator: Orchestrator) async throws -> String {
        switch deployment.status {
        case .success:
            let domain = try orchestrator.store.domains(serviceID: deployment.serviceID, environmentID: deployment.environmentID).first
            let url = await domain.asyncMap { await orchestrator.url(forHostname: $0.hostname) + $0.pathPrefix }
            return "switchyard: \(name) is live" + (url.map { " at \($0)" } ?? "") + "\n"
        case .completed, .failed, .crashed, .removed, .skipped:
            return "switchyard: \(name) \(deployment.status.rawValue): \(deployment.reason ?? "no reason recorded")"
                + " (`yard logs --deployment \(deployment.id)`)\n"
        default:
            return ""
        }
    }
}
