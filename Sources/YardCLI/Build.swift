import ArgumentParser
import Foundation
import YardBuild
import YardConfig
import YardCore
import YardRuntime

struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the build plan of a folder as JSON, without building (`--plan`); builds run on the server with `yard up`."
    )

    @Flag(help: "Detect the provider and print the plan: steps, start command, deploy settings, toolchains, artifact key.")
    var plan = false

    @Argument(help: "Folder to plan (default: the current folder).")
    var path: String?

    @Option(help: "Plan only this service of the root railpack.json's `services` map.")
    var service: String?

    @Option(help: "Root directory of the service inside the folder (a folder without a `services` map).")
    var root: String?

    @Option(help: "Railway config file to use instead of railway.toml/railway.json (e.g. railway.web.toml).")
    var config: String?

    @Option(name: .shortAndLong, help: "Environment whose `environments.<name>` section of the config applies.")
    var environment = "production"

    @Option(name: .customLong("variable"), help: "KEY=VALUE the service would have (RAILPACK_*, NO_CACHE, …); repeatable.")
    var variables: [String] = []

    @Flag(help: "Accepted for symmetry with other commands: the plan is always JSON.")
    var json = false

    func validate() throws {
        for assignment in variables where !assignment.contains("=") {
            throw ValidationError("--variable takes KEY=VALUE; '\(assignment.prefix(40))' has no '='")
        }
    }

    func run() async throws {
        try await reportingErrors {
            guard plan else {
                throw YardError(
                    .invalidInput,
                    "`yard build` only prints plans: run `yard build --plan [DIR]`. Builds run on the server: `yard up` uploads and builds")
            }
            let folder = URL(fileURLWithPath: path ?? FileManager.default.currentDirectoryPath).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw YardError(.invalidInput, "\(folder.path) is not a folder: give the folder to plan")
            }
            let values = Assignments.parse(variables)
            let plans = try LocalPlanner(variables: values, environment: environment)
                .plans(folder: folder, service: service, root: root, configPath: config)
            if plans.servicesMap {
                try Output.json(Dictionary(plans.services.map { ($0.name ?? "", $0.view) }, uniquingKeysWith: { a, _ in a }))
            } else if let only = plans.services.first {
                try Output.json(only.view)
            }
            let problems = plans.services.compactMap { planned in
                planned.view.error.map { (planned.name.map { "service \($0): " } ?? "") + $0 }
            }
            if !problems.isEmpty {
                throw YardError(.buildFailed, problems.joined(separator: "\n"))
            }
        }
    }
}

/// `KEY=VALUE` arguments into a dictionary; the last one of a key wins.
enum Assignments {
    static func parse(_ arguments: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return values
    }
}

/// A build plan as `yard build --plan` prints it.
struct PlanView: Encodable {
    struct Steps: Encodable {
        var install: [String]
        var build: [String]
    }

    struct ToolchainView: Encodable {
        var name: String
        var executable: String
        /// The first line of its version command; nil when it is not installed.
        var version: String?
        var installHint: String
        /// The version the app asks for and the file or variable it was read from.
        var requested: String?
        var source: String?
        /// Whether this machine has it: a missing one still plans, and fails the build.
        var available: Bool
        /// Whether `version` satisfies `requested`; nil when either is unknown.
        var matches: Bool?
        var message: String?
    }

    /// The service's root directory inside the folder ("." for the folder itself).
    var root: String
    /// The railpack.json that applied (for a `services` map entry, the root file).
    var railpackConfig: String?
    /// The railway config file that applied.
    var configFile: String?
    var provider: String
    var detectedFrom: String
    var steps: Steps
    var startCommand: String
    var environment: [String: String]
    var cache: InstallCache?
    var secrets: [String]
    var notes: [String]
    var warnings: [String]
    var toolchains: [ToolchainView]
    var deploy: DeploySettings
    /// Variables the railpack.json's `deploy` gives the running app; references such as
    /// `${{backend.RAILWAY_PUBLIC_DOMAIN}}` are resolved by the server at deploy time.
    var deployVariables: [String: String]
    /// The content address the artifact would get on the server (with the same variables);
    /// nil when the plan cannot be built here.
    var artifactKey: String?
    /// Why the server would refuse to build this plan (a missing toolchain).
    var error: String?
}

/// Plans folders the way the server's pipeline does, from the packed upload, with the
/// sandbox's view (`/app`, the system PATH) and without running any step.
struct LocalPlanner {
    var variables: [String: String]
    var environment: String

    struct Planned {
        var name: String?
        var view: PlanView
    }

    func plans(folder: URL, service: String?, root: String?, configPath: String?) throws -> (servicesMap: Bool, services: [Planned]) {
        // Plan what would be uploaded: .gitignore and .railwayignore apply, as on `yard up`.
        let package = try SourcePackager.pack(folder: folder)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-plan-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: package.archive)
            try? FileManager.default.removeItem(at: scratch)
        }
        let source = scratch.appendingPathComponent("source")
        try SourcePackager.unpack(package.archive, into: source)

        let isMap = try ServiceLayout.servicesMap(in: source) != nil
        if service != nil, !isMap {
            throw YardError(.invalidInput, "--service chooses an entry of a root railpack.json `services` map, and \(folder.path) has none; "
                + "use --root and --config to plan one service of a monorepo")
        }
        let layout = try ServiceLayout.resolve(
            folder: source, environment: environment, service: service, root: root, configPath: configPath,
            variables: variables, shownAs: folder.path)
        var planned: [Planned] = []
        for entry in layout {
            do {
                planned.append(Planned(name: entry.name, view: try plan(entry)))
            } catch let error as YardError {
                guard let name = entry.name else { throw error }
                throw YardError(error.code, "service \(name): \(error.message)")
            }
        }
        return (isMap, planned)
    }

    private func plan(_ service: ServiceLayout.Service) throws -> PlanView {
        let host = Serve.replicaBaseEnvironment(isolated: true)
        let request = BuildRequest(
            sourceDirectory: service.directory,
            appDirectory: service.directory,
            build: service.config.build,
            startCommand: service.deploy.startCommand,
            procfileWeb: service.config.procfileWeb,
            variables: variables,
            hostEnvironment: host,
            mountPath: "/app",
            railpack: service.railpack,
            noCache: variables["NO_CACHE"] == "1"
        )
        let builder = Builder(configuration: .init(platformExecutable: Serve.executablePath()), launcher: PlainProcessLauncher())
        let plan: BuildPlan
        var versions: [String: String] = [:]
        var artifactKey: String?
        var failure: String?
        if service.config.build.builder == .dockerfile {
            // buildah builds it on the server; the plan is what the Dockerfile declares.
            let (file, shown, _) = try Builder.locateDockerfile(
                in: service.directory, configPath: service.config.build.dockerfilePath, variables: variables)
            plan = Builder.dockerfilePlan(try Builder.readDockerfile(at: file, shown: shown), shown: shown, startCommand: service.deploy.startCommand)
        } else {
            do {
                let prepared = try builder.prepare(request)
                plan = prepared.plan
                versions = prepared.toolchainVersions
                artifactKey = prepared.artifactKey
            } catch {
                // The plan itself stands (a missing toolchain fails only the build): show it
                // with the reason. A folder that cannot be planned at all fails here.
                plan = try builder.plan(for: request)
                failure = error.message
            }
        }
        return PlanView(
            root: service.root ?? ".",
            railpackConfig: service.railpack?.fileName,
            configFile: service.config.configFile,
            provider: plan.provider,
            detectedFrom: plan.detectedFrom,
            steps: .init(install: plan.installCommands, build: plan.buildCommands),
            startCommand: plan.startCommand,
            environment: plan.environment,
            cache: plan.cache,
            secrets: plan.secrets,
            notes: plan.notes,
            warnings: service.warnings,
            toolchains: plan.toolchains.map {
                .init(
                    name: $0.name, executable: $0.executable, version: versions[$0.name], installHint: $0.installHint,
                    requested: $0.requested, source: $0.source, available: $0.available ?? (versions[$0.name] != nil),
                    matches: $0.matches, message: $0.message)
            },
            deploy: service.deploy,
            deployVariables: service.railpack?.deploy?.variables ?? [:],
            artifactKey: artifactKey,
            error: failure
        )
    }
}
