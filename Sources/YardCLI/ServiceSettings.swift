import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard service`: `yard service [settings]` (the default) and `yard service link`.
struct Service: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Show or change the service's settings (the default), or link it to a git branch (`link`).",
        subcommands: [ServiceSettings.self, ServiceLink.self],
        defaultSubcommand: ServiceSettings.self
    )
}

/// `yard service settings`: the service's settings that are not resource limits (those are `yard
/// scale`): its root directory and whether it sleeps when idle.
struct ServiceSettings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Show the service's settings, or change its root directory (from the next deployment) or whether it sleeps when idle (at once)."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "The folder inside the upload the service is built from, e.g. packages/web; \".\" for the upload's root.")
    var root: String?

    @Option(help: "Sleep when idle: on, off, or config (as the config file's sleepApplication says). Applies to the live deployment at once.")
    var sleep: SleepSetting?

    @OptionGroup var registry: RegistryLoginOptions

    @Flag(help: "Remove an image service's registry login.")
    var noRegistryLogin = false

    func validate() throws {
        if let root { _ = try ServiceSettingsChange.normalizedRoot(root) }
        try registry.validate()
        if noRegistryLogin, registry.isGiven { throw ValidationError("give --registry-username, or --no-registry-login") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let login = try registry.login()
            let settings = if root != nil || sleep != nil || login != nil || noRegistryLogin {
                // "" is how the API spells the upload's root, and no registry login.
                try await client.changeSettings(scope, ServiceSettingsChange(
                    rootDirectory: try root.map { try ServiceSettingsChange.normalizedRoot($0) ?? "" },
                    sleepApplication: sleep, registryUsername: noRegistryLogin ? "" : login?.username,
                    registryPassword: login?.password))
            } else {
                try await client.settings(scope)
            }
            if options.json { try Output.json(settings); return }
            print("service: \(scope.service)")
            Scale.show(settings)
            if root != nil {
                print("The root directory applies from the next deployment (`yard up` or `yard redeploy`).")
            }
            if login != nil || noRegistryLogin {
                print("The registry login applies from the next pull (`yard redeploy`).")
            }
        }
    }
}

extension SleepSetting: ExpressibleByArgument {}

/// `yard service link --branch main`: pushes to that branch deploy the service in this
/// environment (creating the service if it does not exist yet).
struct ServiceLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Deploy the service when a branch is pushed to the project's git repository (`yard git remote`)."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "The branch whose pushes deploy the service in this environment, e.g. main.")
    var branch: String?

    @Flag(help: "Stop deploying the service on pushes.")
    var unlink = false

    @Option(help: "For a service that does not exist yet: the folder of the repository it is built from.")
    var root: String?

    func validate() throws {
        guard (branch != nil) != unlink else { throw ValidationError("give --branch NAME, or --unlink") }
        if let branch { try ServiceBranchLink.validate(branch) }
        if let root { _ = try ServiceSettingsChange.normalizedRoot(root) }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let project = try await client.project(scope.project)
            if !project.services.contains(where: { $0.name == scope.service || $0.id == scope.service }) {
                _ = try await client.createService(
                    project: project.id, name: scope.service, rootDirectory: try root.flatMap { try ServiceSettingsChange.normalizedRoot($0) })
                if !options.json { print("Created service \(scope.service).") }
            }
            let link = try await client.linkBranch(scope, branch: unlink ? nil : branch)
            if options.json { try Output.json(link); return }
            if let branch = link.branch {
                print("Pushes to \(branch) deploy \(scope.service) in \(scope.environment); push to `yard git remote`.")
            } else {
                print("\(scope.service) in \(scope.environment) is no longer deployed by pushes.")
            }
        }
    }
}
