import ArgumentParser
import Foundation
import YardClient
import YardConfig
import YardCore

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload this folder, build it and deploy it; prints the build log and waits for the result."
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Return once the upload is accepted, without waiting for the build.")
    var detach = false

    @Option(help: "Config file to use for a new service instead of railway.toml/railway.json (e.g. railway.web.toml).")
    var config: String?

    @Argument(help: "Folder to deploy (default: the current folder).")
    var path: String?

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let folder = path.map { URL(fileURLWithPath: $0) } ?? options.folder
            // Check the config here first: a broken file fails at once, and nothing is uploaded.
            let resolved = try ConfigLoader.load(directory: folder, configPath: config, environment: scope.environment)
            if !options.json {
                for warning in resolved.warnings { print("warning: \(warning)") }
            }
            let package = try SourcePackager.pack(folder: folder)
            defer { try? FileManager.default.removeItem(at: package.archive) }
            if !options.json {
                print("Uploading \(package.fileCount) files (\(ByteCountFormatter.string(fromByteCount: Int64(package.bytes), countStyle: .file))) to \(scope.project)/\(scope.environment)/\(scope.service)…")
            }
            let deployment = try await client.deploy(scope, archive: package.archive, configPath: config)
            if detach {
                if options.json { try Output.json(deployment) } else { print("Deployment \(deployment.id) is \(deployment.status.rawValue).") }
                return
            }
            try await DeploymentFollower(client: client, json: options.json).follow(deployment)
        }
    }
}

/// Shows a deployment's build log live, then waits until it is live or has failed.
struct DeploymentFollower {
    let client: YardAPIClient
    let json: Bool

    func follow(_ deployment: DeploymentView) async throws {
        let quiet = json
        if !quiet { print("Deployment \(deployment.id): build log follows.") }
        try await client.logs(deploymentID: deployment.id, kind: .build, follow: true) { line in
            if !quiet { print(Self.format(line)); Output.flush() }
        }
        let final = try await client.watch(deploymentID: deployment.id) { view in
            if !quiet, view.status == .deploying { print("Deploying…"); Output.flush() }
        }
        if json { try Output.json(final) }
        guard final.status == .success else {
            if !quiet {
                let lines = LogTail()
                try? await client.logs(deploymentID: deployment.id, kind: .deploy, follow: false) { await lines.add($0) }
                for line in await lines.last(20) { print(Self.format(line)) }
            }
            throw YardError(.deployFailed, "deployment \(final.id) ended \(final.status.rawValue)\(final.reason.map { ": \($0)" } ?? "")")
        }
        if !quiet {
            print("Deployment \(final.id) is live (\(final.replicas.count) replica\(final.replicas.count == 1 ? "" : "s")).")
            if let url = final.url { print("URL: \(url)") }
        }
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

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let deployment = try await client.redeploy(try options.serviceScope())
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
            guard final.status == .success else { throw ExitCode.failure }
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
