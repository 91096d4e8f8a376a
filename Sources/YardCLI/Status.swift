import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the services of the linked project and environment.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let (project, environment) = try options.projectScope()
            let client = try options.client()
            let status = try await client.status(project: project, environment: environment)
            if options.json { try Output.json(status); return }
            let cpuShares = try await Self.cpuShares(client: client, first: status, project: project, environment: environment)
            print("Project \(status.project.name), environment \(status.environment.name)")
            print("Isolation: \(status.isolation)")
            if status.services.isEmpty { print("No services yet: `yard up` deploys this folder.") }
            for service in status.services where options.service == nil || options.service == service.service.name {
                print("")
                print("Service \(service.service.name)")
                for domain in service.domains { print("  domain    \(domain.url)") }
                if let live = service.live {
                    print("  live      \(live.id)  \(live.status.rawValue)  \(live.provider ?? "")  since \(Output.time(live.updatedAt))")
                    for replica in live.replicas {
                        var line = "    replica \(replica.id)  \(replica.status.rawValue)  \(replica.address ?? "127.0.0.1"):\(replica.port)"
                        line += "  pid \(replica.pid.map(String.init) ?? "-")  restarts \(replica.restarts)"
                        if let usage = replica.usage {
                            let share = cpuShares[replica.id].map { String(format: "%.0f%%", $0 * 100) } ?? "-"
                            line += "  cpu \(share) (\(String(format: "%.2f", Double(usage.cpuNanoseconds) / 1e9))s)"
                            line += "  mem \(ByteSize.format(Int64(usage.memoryBytes)))"
                        }
                        if let lastExit = replica.lastExit { line += "  last exit: \(lastExit)" }
                        print(line)
                    }
                } else {
                    print("  live      none")
                }
                if let latest = service.latest, latest.id != service.live?.id {
                    print("  latest    \(latest.id)  \(latest.status.rawValue)\(latest.reason.map { ": \($0)" } ?? "")")
                }
            }
        }
    }
}

extension Status {
    /// Live CPU use per replica: a second sample half a second later, compared with the
    /// first (cgroups count CPU time, not a rate).
    static func cpuShares(client: YardAPIClient, first: StatusView, project: String, environment: String) async throws -> [String: Double] {
        let before = first.services.flatMap { $0.live?.replicas ?? [] }.filter { $0.usage != nil }
        guard !before.isEmpty else { return [:] }
        let started = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(500))
        let second = try await client.status(project: project, environment: environment)
        let wall = Double((ContinuousClock.now - started) / .nanoseconds(1))
        var shares: [String: Double] = [:]
        for replica in second.services.flatMap({ $0.live?.replicas ?? [] }) {
            guard let now = replica.usage, let then = before.first(where: { $0.id == replica.id })?.usage,
                  now.cpuNanoseconds >= then.cpuNanoseconds
            else { continue }
            shares[replica.id] = Double(now.cpuNanoseconds - then.cpuNanoseconds) / wall
        }
        return shares
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a deployment's logs (the latest deployment of the service by default).")

    @OptionGroup var options: ClientOptions

    @Flag(help: "Show the build log instead of the deploy log.")
    var build = false

    @Flag(name: .shortAndLong, help: "Keep printing new lines as they arrive.")
    var follow = false

    @Option(help: "A deployment id.")
    var deployment: String?

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deploymentID: String
            if let deployment {
                deploymentID = deployment
            } else {
                guard let latest = try await client.deployments(try options.serviceScope()).first else {
                    throw YardError(.notFound, "this service has no deployments yet")
                }
                deploymentID = latest.id
            }
            let json = options.json
            try await client.logs(deploymentID: deploymentID, kind: build ? .build : .deploy, follow: follow) { line in
                if json {
                    print(String(decoding: try YardJSON.encoder().encode(line), as: UTF8.self))
                } else {
                    print(DeploymentFollower.format(line))
                }
                Output.flush()
            }
        }
    }
}

struct Variables: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List, set and delete the service's variables.")

    @OptionGroup var options: ClientOptions

    @Option(name: .customLong("set"), help: "KEY=VALUE to set (repeatable).")
    var assignments: [String] = []

    @Option(name: .customLong("delete"), help: "KEY to delete (repeatable).")
    var deletions: [String] = []

    func validate() throws {
        for assignment in assignments where !assignment.contains("=") {
            throw ValidationError("--set takes KEY=VALUE; '\(assignment.prefix(40))' has no '='")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let variables: [VariableView]
            if assignments.isEmpty && deletions.isEmpty {
                variables = try await client.variables(scope)
            } else {
                var set: [String: String] = [:]
                for assignment in assignments {
                    let parts = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    set[String(parts[0])] = String(parts[1])
                }
                variables = try await client.changeVariables(scope, set: set, delete: deletions)
                if !options.json {
                    print("Updated \(set.count + deletions.count) variable\(set.count + deletions.count == 1 ? "" : "s"); they apply from the next deployment (`yard redeploy`).")
                }
            }
            if options.json { try Output.json(variables); return }
            for variable in variables {
                print("\(variable.key)=\(variable.sealed ? "<sealed>" : variable.value ?? "")")
            }
        }
    }
}

struct Domain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the service's domains, or add a custom one.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "A hostname to route to this service.")
    var hostname: String?

    @Option(help: "The port the domain targets.")
    var port: Int?

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let domains = if let hostname {
                try await client.addDomain(scope, hostname: hostname, targetPort: port)
            } else {
                try await client.domains(scope)
            }
            if options.json { try Output.json(domains); return }
            if domains.isEmpty { print("No domains yet: the first `yard up` generates one.") }
            for domain in domains {
                print("\(domain.url)\(domain.generated ? "  (generated)" : "")\(domain.targetPort.map { "  → port \($0)" } ?? "")")
            }
        }
    }
}
