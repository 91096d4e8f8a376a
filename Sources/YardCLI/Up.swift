import ArgumentParser
import Foundation
import YardClient
import YardConfig
import YardCore

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload this folder, build it and deploy it; prints the build log and waits for the result.",
        discussion: """
            A folder whose root railpack.json has a `services` map deploys every service of the map from one \
            upload, unless --service (or the folder's link) names one of them.
            """
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Return once the upload is accepted, without waiting for the build.")
    var detach = false

    @Flag(help: "Build without the install cache (as NO_CACHE=1 does).")
    var noCache = false

    @Option(help: "Config file to use for a new service instead of railway.toml/railway.json (e.g. railway.web.toml).")
    var config: String?

    @Argument(help: "Folder to deploy (default: the current folder).")
    var path: String?

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let folder = path.map { URL(fileURLWithPath: $0) } ?? options.folder
            let (project, environment) = try options.projectScope()
            // Check the config here first: a broken file fails at once, and nothing is uploaded.
            let map = try ServiceLayout.servicesMap(in: folder)
            if let map, let services = try wholeProject(map) {
                let layout = try ServiceLayout.resolve(folder: folder, environment: environment)
                if !options.json {
                    for entry in layout {
                        for warning in entry.warnings { print("warning: \(entry.name ?? ""): \(warning)") }
                    }
                }
                let package = try SourcePackager.pack(folder: folder)
                defer { try? FileManager.default.removeItem(at: package.archive) }
                if !options.json {
                    print("Uploading \(package.fileCount) files (\(Self.size(package.bytes))) to \(project)/\(environment): "
                        + "services \(services.joined(separator: ", ")) from \(map.fileName)…")
                }
                let deployments = try await client.deployServices(
                    project: project, environment: environment, archive: package.archive, noCache: noCache)
                try await finish(deployments, client: client)
                return
            }

            let scope = try options.serviceScope()
            // A services map entry decides the service's root and railpack config; any other
            // service is read from its root directory on the server.
            let entry = map?.services.contains { $0.name == scope.service } == true ? scope.service : nil
            let root = entry == nil ? try await rootDirectory(scope, client: client) : nil
            let layout = try ServiceLayout.resolve(
                folder: folder, environment: scope.environment, service: entry, root: root, configPath: config,
                servicesMap: entry != nil)
            if !options.json {
                for warning in layout.flatMap(\.warnings) { print("warning: \(warning)") }
            }
            let package = try SourcePackager.pack(folder: folder)
            defer { try? FileManager.default.removeItem(at: package.archive) }
            if !options.json {
                print("Uploading \(package.fileCount) files (\(Self.size(package.bytes))) to \(scope.project)/\(scope.environment)/\(scope.service)…")
            }
            let deployment = try await client.deploy(scope, archive: package.archive, configPath: config, noCache: noCache)
            try await finish([deployment], client: client)
        }
    }

    /// The services a whole-project deploy covers; nil when one service is meant: --service
    /// was given, or the folder's link names an entry of the map.
    private func wholeProject(_ map: RailpackConfig) throws -> [String]? {
        if options.service != nil { return nil }
        if let linked = try CLIConfig.load().link(for: options.folder)?.service, map.services.contains(where: { $0.name == linked }) {
            return nil
        }
        if let config {
            throw YardError(
                .invalidInput,
                "--config \(config) applies to one service, and \(map.fileName) deploys \(map.services.count): add --service NAME")
        }
        return map.services.map(\.name)
    }

    /// The service's root directory on the server, so the local check reads the files the
    /// server will; nil for a service that does not exist yet.
    private func rootDirectory(_ scope: YardAPIClient.Scope, client: YardAPIClient) async throws -> String? {
        do {
            return try await client.settings(scope).rootDirectory
        } catch let error as YardError where error.code == .notFound {
            return nil
        }
    }

    private func finish(_ deployments: [DeploymentView], client: YardAPIClient) async throws {
        if detach {
            if options.json {
                if deployments.count == 1 { try Output.json(deployments[0]) } else { try Output.json(deployments) }
            } else {
                for deployment in deployments {
                    print("Deployment \(deployment.id) of \(deployment.serviceName) is \(deployment.status.rawValue).")
                }
            }
            return
        }
        if deployments.count == 1 {
            try await DeploymentFollower(client: client, json: options.json).follow(deployments[0])
            return
        }
        try await DeploymentFollower(client: client, json: options.json).follow(all: deployments)
    }

    static func size(_ bytes: Int) -> String {
        ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .file)
    }
}

/// Shows a deployment's build log live, then waits until it is live or has failed.
struct DeploymentFollower {
    let client: YardAPIClient
    let json: Bool

    func follow(_ deployment: DeploymentView) async throws {
        let final = try await settle(deployment)
        if json { try Output.json(final) }
        try Self.check(final)
    }

    /// Follows several deployments (a whole-project `yard up`) one after the other; they
    /// build in parallel on the server, so later logs are mostly complete when shown.
    func follow(all deployments: [DeploymentView]) async throws {
        var finals: [DeploymentView] = []
        for deployment in deployments {
            if !json { print("==> service \(deployment.serviceName)") }
            finals.append(try await settle(deployment))
        }
        if json { try Output.json(finals) }
        let failed = finals.filter { !$0.status.isDeployed }
        guard failed.isEmpty else {
            throw YardError(.deployFailed, failed.map { final in
                "\(final.serviceName): deployment \(final.id) ended \(final.status.rawValue)\(final.reason.map { ": \($0)" } ?? "")"
            }.joined(separator: "\n"))
        }
    }

    private static func check(_ final: DeploymentView) throws {
        guard final.status.isDeployed else {
            throw YardError(.deployFailed, "deployment \(final.id) ended \(final.status.rawValue)\(final.reason.map { ": \($0)" } ?? "")")
        }
    }

    /// Prints the build log live and waits until the deployment settles; on failure the
    /// end of the deploy log follows.
    private func settle(_ deployment: DeploymentView) async throws -> DeploymentView {
        let quiet = json
        if !quiet { print("Deployment \(deployment.id): build log follows.") }
        try await client.logs(deploymentID: deployment.id, kind: .build, follow: true) { line in
            if !quiet { print(Self.format(line)); Output.flush() }
        }
        let final = try await client.watch(deploymentID: deployment.id) { view in
            if !quiet, view.status == .deploying { print("Deploying…"); Output.flush() }
        }
        guard final.status.isDeployed else {
            if !quiet {
                let lines = LogTail()
                try? await client.logs(deploymentID: deployment.id, kind: .deploy, follow: false) { await lines.add($0) }
                for line in await lines.last(20) { print(Self.format(line)) }
            }
            return final
        }
        if !quiet, final.status == .completed {
            print("Deployment \(final.id) completed: its process exited 0 (\(final.reason ?? "COMPLETED")).")
            Output.flush()
        } else if !quiet {
            print("Deployment \(final.id) is live (\(final.replicas.count) replica\(final.replicas.count == 1 ? "" : "s")).")
            if let url = final.url { print("URL: \(url)") }
            Output.flush()
        }
        return final
    }

    static func format(_ line: LogLine) -> String {
        let prefix = line.stream == .system ? "==> " : ""
        let replica = line.replica.map { "[\($0.suffix(6))] " } ?? ""
        return "\(Output.time(line.timestamp)) \(replica)\(prefix)\(line.message)"
    }
}

private actor LogTail {
    var lines: [LogLine] = []
    func add(_ line: LogLine) { lines.append(line) }
    func last(_ count: Int) -> [LogLine] { Array(lines.suffix(count)) }
}

struct Redeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Build and deploy the service's latest source again.")

    @OptionGroup var options: ClientOptions

    @Flag(help: "Do not wait for the result.")
    var detach = false

    @Flag(name: .customLong("no-cache"), help: "Ignore the install cache and the previous artifact: install and build from scratch.")
    var noCache = false

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deployment = try await client.redeploy(try options.serviceScope(), noCache: noCache)
            if detach {
                if options.json { try Output.json(deployment) } else { print("Deployment \(deployment.id) queued.") }
                return
            }
            try await DeploymentFollower(client: client, json: options.json).follow(deployment)
        }
    }
}

struct Restart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the live deployment again on fresh replicas, with no rebuild.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deployment = try await client.restart(try options.serviceScope())
            // The server marks the deployment DEPLOYING before answering; wait for it to settle.
            let final = try await client.watch(deploymentID: deployment.id) { _ in }
            if options.json { try Output.json(final) } else {
                print("Deployment \(final.id) restarted: \(final.status.rawValue)\(final.reason.map { " (\($0))" } ?? "").")
            }
            guard final.status.isDeployed else { throw ExitCode.failure }
        }
    }
}

struct Sleep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a service with sleepApplication to sleep now; its next request wakes it, and is answered.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deployment = try await client.sleep(try options.serviceScope())
            let final = try await client.watch(deploymentID: deployment.id) { _ in }
            if options.json { try Output.json(final) } else {
                print("Deployment \(final.id) is \(final.status.rawValue).")
            }
            guard final.status == .sleeping else { throw ExitCode.failure }
        }
    }
}

struct Down: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the service's latest deployment.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deployment = try await client.down(try options.serviceScope())
            let final = try await client.watch(deploymentID: deployment.id) { _ in }
            if options.json { try Output.json(final) } else { print("Deployment \(final.id) is \(final.status.rawValue).") }
        }
    }
}
