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
                print("Service \(service.service.name)" + (service.service.database.map { " (\($0.rawValue) database)" } ?? "")
                      + (service.service.image.map { " (image \($0))" } ?? ""))
                for domain in service.domains {
                    print("  domain    \(domain.url)\(domain.httpsURL.map { "  \($0)" } ?? "")")
                }
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
                if let reason = service.needsRedeploy {
                    print("  NEEDS REDEPLOY  \(reason)")
                }
                if let problem = service.backupProblem {
                    print("  \(service.service.name): last \(problem)")
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
    static let configuration = CommandConfiguration(abstract: "Show a deployment's logs (the latest deployment of the service by default; with --http the live one).")

    @OptionGroup var options: ClientOptions

    @Flag(help: "Show the build log instead of the deploy log.")
    var build = false

    @Flag(help: "Show the HTTP access log (one line per request through the router) of the live deployment.")
    var http = false

    @Flag(name: .shortAndLong, help: "Keep printing new lines as they arrive.")
    var follow = false

    @Option(help: "A deployment id.")
    var deployment: String?

    @Option(help: ArgumentHelp(
        "Only lines that match, in Railway's filter syntax.",
        discussion: "Words, \"exact phrase\", AND, OR, -term, ( ); @level:error, @stream:stderr, @replica:ID, @httpStatus:500 (or >=400, 400..499), @method:GET, @host:H, @path:/api, @upstream:ID, @responseTime:>500 (ms)."))
    var filter: String?

    @Option(help: "Only lines from this long ago (30m, 2h, 7d) or this ISO 8601 time on.")
    var since: String?

    @Option(help: "Only lines before this long ago or this ISO 8601 time.")
    var until: String?

    func validate() throws {
        if build && http { throw ValidationError("--build and --http show different logs: give one of them") }
        if let filter {
            do { _ = try LogFilter.parse(filter) } catch let error as YardError { throw ValidationError("--filter: \(error.message)") }
        }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deploymentID: String
            if let deployment {
                deploymentID = deployment
            } else {
                let deployments = try await client.deployments(try options.serviceScope())
                // Requests go to the live deployment, which need not be the latest.
                let serving = http ? deployments.first { [.success, .sleeping, .crashed].contains($0.status) } : nil
                guard let chosen = serving ?? deployments.first else {
                    throw YardError(.notFound, "this service has no deployments yet")
                }
                deploymentID = chosen.id
            }
            let json = options.json
            let kind: LogKind = build ? .build : http ? .http : .deploy
            let query = LogQueryText(
                filter: filter, since: try since.map { try DurationText.moment($0, flag: "--since") },
                until: try until.map { try DurationText.moment($0, flag: "--until") })
            try await client.logs(deploymentID: deploymentID, kind: kind, query: query, follow: follow) { line in
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
    static let configuration = CommandConfiguration(
        abstract: "List, set and delete the service's variables.",
        subcommands: [VariablesList.self, VariablesSet.self, VariablesDelete.self],
        defaultSubcommand: VariablesList.self
    )
}

/// `yard variables [--set K=V]… [--build-secret K=V]… [--delete K]…`: lists, after the
/// changes if any.
struct VariablesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the service's variables; --set, --build-secret and --delete change them first.")

    @OptionGroup var options: ClientOptions

    @Option(name: .customLong("set"), help: "KEY=VALUE to set (repeatable).")
    var assignments: [String] = []

    @Option(name: .customLong("build-secret"), help: "KEY=VALUE to set as a build secret: seen by build steps only, never shown (repeatable).")
    var secrets: [String] = []

    @Option(name: .customLong("sealed"), help: "KEY=VALUE to set sealed: replicas and builds see it, it is never shown again and not copied to new environments (repeatable).")
    var sealed: [String] = []

    @Option(name: .customLong("delete"), help: "KEY to delete (repeatable).")
    var deletions: [String] = []

    @Flag(help: "The environment's shared variables (referenced as ${{shared.KEY}}) instead of the service's.")
    var shared = false

    @Flag(help: "Only record the change: do not redeploy the services whose variables it changes.")
    var skipDeploys = false

    func validate() throws {
        try VariableAssignments.validate(assignments, flag: "--set")
        try VariableAssignments.validate(secrets, flag: "--build-secret")
        try VariableAssignments.validate(sealed, flag: "--sealed")
    }

    func run() async throws {
        try await VariableAssignments.apply(
            options: options, plain: assignments, secrets: secrets, sealed: sealed, deletions: deletions, shared: shared,
            skipDeploys: skipDeploys)
    }
}

struct VariablesSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set variables; services using them are redeployed (--skip-deploys only records the change).")

    @OptionGroup var options: ClientOptions

    @Argument(help: "KEY=VALUE pairs to set.")
    var assignments: [String] = []

    @Option(name: .customLong("build-secret"), help: "KEY=VALUE to set as a build secret: seen by build steps only, never shown (repeatable).")
    var secrets: [String] = []

    @Flag(help: "The environment's shared variables (referenced as ${{shared.KEY}}) instead of the service's.")
    var shared = false

    @Flag(help: "Only record the change: do not redeploy the services whose variables it changes.")
    var skipDeploys = false

    @Option(name: .customLong("sealed"), help: "KEY=VALUE to set sealed: replicas and builds see it, it is never shown again and not copied to new environments (repeatable).")
    var sealed: [String] = []

    func validate() throws {
        if assignments.isEmpty && secrets.isEmpty && sealed.isEmpty {
            throw ValidationError("give KEY=VALUE pairs to set, or --build-secret KEY=VALUE, or --sealed KEY=VALUE")
        }
        try VariableAssignments.validate(assignments, flag: "set")
        try VariableAssignments.validate(secrets, flag: "--build-secret")
        try VariableAssignments.validate(sealed, flag: "--sealed")
    }

    func run() async throws {
        try await VariableAssignments.apply(
            options: options, plain: assignments, secrets: secrets, sealed: sealed, deletions: [], shared: shared, skipDeploys: skipDeploys)
    }
}

struct VariablesDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete variables.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "Keys to delete.")
    var keys: [String]

    @Flag(help: "The environment's shared variables (referenced as ${{shared.KEY}}) instead of the service's.")
    var shared = false

    @Flag(help: "Only record the change: do not redeploy the services whose variables it changes.")
    var skipDeploys = false

    func run() async throws {
        try await VariableAssignments.apply(
            options: options, plain: [], secrets: [], deletions: keys, shared: shared, skipDeploys: skipDeploys)
    }
}

/// The shared work of the `variables` commands.
enum VariableAssignments {
    static func validate(_ assignments: [String], flag: String) throws {
        for assignment in assignments where !assignment.contains("=") {
            throw ValidationError("\(flag) takes KEY=VALUE; '\(assignment.prefix(40))' has no '='")
        }
    }

    /// Applies the changes (if any), then prints the variables. Build secrets and sealed
    /// variables never show a value. After a change, every service of the environment
    /// whose live deployment now has other variables than it would get is redeployed,
    /// unless `skipDeploys` (then `yard status` shows them as needing a redeploy).
    static func apply(
        options: ClientOptions, plain: [String], secrets: [String], sealed: [String] = [], deletions: [String], shared: Bool = false,
        skipDeploys: Bool = false
    ) async throws {
        try await reportingErrors {
            let client = try options.client()
            let (project, environment) = try options.projectScope()
            let variables: [VariableView]
            if plain.isEmpty && secrets.isEmpty && sealed.isEmpty && deletions.isEmpty {
                variables = shared
                    ? try await client.sharedVariables(project: project, environment: environment)
                    : try await client.variables(try options.serviceScope())
            } else {
                var set = Assignments.parse(plain)
                let secretValues = Assignments.parse(secrets)
                if shared && !secretValues.isEmpty {
                    throw YardError(.invalidInput, "shared variables cannot be build secrets: set --build-secret on the service that builds with it")
                }
                if let clash = secretValues.keys.sorted().first(where: { set[$0] != nil }) {
                    throw YardError(.invalidInput, "\(clash) is given both as a variable and as a build secret: give it once")
                }
                set.merge(secretValues) { _, secret in secret }
                let sealedValues = Assignments.parse(sealed)
                if let clash = sealedValues.keys.sorted().first(where: { set[$0] != nil }) {
                    throw YardError(.invalidInput, "\(clash) is given sealed and also otherwise: give it once")
                }
                if shared && !sealedValues.isEmpty {
                    throw YardError(.invalidInput, "shared variables cannot be sealed yet: seal the variable on the service that uses it")
                }
                set.merge(sealedValues) { _, value in value }
                if shared {
                    variables = try await client.changeSharedVariables(project: project, environment: environment, set: set, delete: deletions)
                } else {
                    variables = try await client.changeVariables(
                        try options.serviceScope(), set: set, delete: deletions, buildSecrets: secretValues.keys.sorted(),
                        sealed: sealedValues.keys.sorted())
                }
                let count = set.count + deletions.count
                let what = "Updated \(count) \(shared ? "shared " : "")variable\(count == 1 ? "" : "s")"
                let redeployed = skipDeploys ? [] : try await redeployChanged(client: client, project: project, environment: environment)
                if !options.json {
                    if skipDeploys {
                        print("\(what); not deployed (--skip-deploys): `yard status` shows the services that need a redeploy.")
                    } else if redeployed.isEmpty {
                        print("\(what); no running deployment uses them yet: they apply from the next deployment.")
                    } else {
                        print("\(what); redeploying \(redeployed.map { "\($0.serviceName) (\($0.id))" }.joined(separator: ", ")) with them.")
                    }
                }
            }
            if options.json { try Output.json(variables); return }
            for variable in variables {
                print(line(variable))
            }
        }
    }

    /// Redeploys the services of the environment that the status shows as needing it.
    static func redeployChanged(client: YardAPIClient, project: String, environment: String) async throws -> [DeploymentView] {
        var started: [DeploymentView] = []
        for service in try await client.status(project: project, environment: environment).services where service.needsRedeploy != nil {
            let scope = YardAPIClient.Scope(project: project, environment: environment, service: service.service.name)
            started.append(try await client.redeploy(scope))
        }
        return started
    }

    static func line(_ variable: VariableView) -> String {
        if variable.buildSecret == true { return "\(variable.key) (build secret)" }
        if variable.sealed { return "\(variable.key)=<sealed>" }
        return "\(variable.key)=\(variable.value ?? "")"
    }
}
