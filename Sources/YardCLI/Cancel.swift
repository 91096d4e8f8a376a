import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a queued deployment or stop a running build; it ends REMOVED.",
        discussion: "Without a deployment id, cancels the service's newest deployment that is queued or building."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "A deployment id (default: the service's newest queued or building deployment).")
    var deployment: String?

    @Flag(help: "Return at once instead of waiting for the build to stop.")
    var detach = false

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let id: String
            if let deployment {
                id = deployment
            } else {
                id = try await Self.cancellable(client: client, scope: try options.serviceScope())
            }
            let answer = try await client.cancel(deploymentID: id)
            // A running build is stopped asynchronously; the deployment settles as REMOVED.
            let final = detach ? answer : try await client.watch(deploymentID: id) { _ in }
            if options.json { try Output.json(final); return }
            if final.status == .removed {
                print("Deployment \(final.id) of \(final.serviceName) cancelled (\(final.status.rawValue)).")
            } else {
                print("Deployment \(final.id) of \(final.serviceName) is \(final.status.rawValue); it ends REMOVED once its build has stopped.")
            }
        }
    }

    /// The newest deployment of the service that has not gone past its build.
    static func cancellable(client: YardAPIClient, scope: YardAPIClient.Scope) async throws -> String {
        let pending: Set<DeploymentStatus> = [.queued, .waiting, .initializing, .building]
        guard let found = try await client.deployments(scope).first(where: { pending.contains($0.status) }) else {
            throw YardError(
                .notFound,
                "service \(scope.service) has no queued or building deployment to cancel; `yard deployments` lists its deployments")
        }
        return found.id
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deploy an earlier deployment's artifact again, with its settings and variables, without building.",
        discussion: "Works while the artifact is retained (the newest builds of each service keep theirs); `yard deployments` lists ids."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The deployment to roll back to.")
    var deployment: String?

    @Option(name: .customLong("to"), help: "The deployment to roll back to (same as the argument).")
    var target: String?

    @Flag(help: "Return once the rollback is queued, without waiting for it to go live.")
    var detach = false

    func validate() throws {
        switch (deployment, target) {
        case (nil, nil):
            throw ValidationError("name the deployment to roll back to: `yard rollback DEPLOYMENT` (`yard deployments` lists them)")
        case (let a?, let b?) where a != b:
            throw ValidationError("give the deployment once: either as the argument or with --to")
        default:
            break
        }
    }

    func run() async throws {
        try await reportingErrors {
            guard let id = deployment ?? target else { return }
            let client = try options.client()
            let created = try await client.rollback(deploymentID: id)
            if detach {
                if options.json { try Output.json(created) } else {
                    print("Deployment \(created.id) of \(created.serviceName) rolls back to \(id): \(created.status.rawValue).")
                }
                return
            }
            if !options.json { print("Deployment \(created.id) rolls back to \(id), with no build."); Output.flush() }
            let final = try await client.watch(deploymentID: created.id) { view in
                if !options.json, view.status == .deploying { print("Deploying…"); Output.flush() }
            }
            if options.json { try Output.json(final) }
            guard final.status.isDeployed else {
                throw YardError(.deployFailed, "rollback deployment \(final.id) ended \(final.status.rawValue)\(final.reason.map { ": \($0)" } ?? "")")
            }
            if !options.json {
                print("Deployment \(final.id) is live (\(final.replicas.count) replica\(final.replicas.count == 1 ? "" : "s")).")
                if let url = final.url { print("URL: \(url)") }
            }
        }
    }
}

struct Deployments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the service's recent deployments, newest first.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let deployments = try await options.client().deployments(try options.serviceScope())
            if options.json { try Output.json(deployments); return }
            if deployments.isEmpty { print("No deployments yet: `yard up` deploys this folder.") }
            for deployment in deployments {
                var line = "\(deployment.id)  \(deployment.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))"
                line += "  \(deployment.trigger.padding(toLength: 8, withPad: " ", startingAt: 0))  \(Output.time(deployment.createdAt))"
                if let reason = deployment.reason { line += "  \(reason)" }
                print(line)
            }
        }
    }
}

/// `yard runs`: a cron service's runs, with the skipped ones.
struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a cron service's recent runs, newest first: when each was due, how it ended, its exit code.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let runs = try await options.client().cronRuns(try options.serviceScope())
            if options.json { try Output.json(runs); return }
            if runs.isEmpty { print("No runs yet: a service with a cronSchedule runs its start command on that schedule (UTC).") }
            for run in runs {
                var line = "\(run.id)  due \(Output.time(run.scheduledAt))  \(run.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))"
                if let code = run.exitCode { line += "  exit \(code)" }
                if let started = run.startedAt, let ended = run.endedAt {
                    line += String(format: "  %.1f s", ended.timeIntervalSince(started))
                }
                if let reason = run.reason { line += "  \(reason)" }
                print(line)
            }
            if !runs.isEmpty { print("Their output is in the deploy log: yard logs") }
        }
    }
}

/// `yard remove ID`: one deployment, whatever its state.
struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a deployment: cancel it while queued or building, stop it (and its routing) once running. It ends REMOVED.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "The deployment id (`yard deployments` lists them).")
    var deployment: String

    @Flag(help: "Return at once instead of waiting for it to end REMOVED.")
    var detach = false

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let answer = try await client.remove(deploymentID: deployment)
            let final = detach ? answer : try await client.watch(deploymentID: deployment) { _ in }
            if options.json { try Output.json(final); return }
            print("Deployment \(final.id) of \(final.serviceName) is \(final.status.rawValue).")
        }
    }
}
