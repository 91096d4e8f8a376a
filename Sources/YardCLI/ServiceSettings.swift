import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard service`: the service's settings that are not resource limits (those are `yard
/// scale`): its root directory and whether it sleeps when idle.
struct ServiceSettings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Show the service's settings, or change its root directory (from the next deployment) or whether it sleeps when idle (at once)."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "The folder inside the upload the service is built from, e.g. packages/web; \".\" for the upload's root.")
    var root: String?

    @Option(help: "Sleep when idle: on, off, or config (as the config file's sleepApplication says). Applies to the live deployment at once.")
    var sleep: SleepSetting?

    func validate() throws {
        if let root { _ = try ServiceSettingsChange.normalizedRoot(root) }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let settings = if root != nil || sleep != nil {
                // "" is how the API spells the upload's root.
                try await client.changeSettings(scope, ServiceSettingsChange(
                    rootDirectory: try root.map { try ServiceSettingsChange.normalizedRoot($0) ?? "" },
                    sleepApplication: sleep))
            } else {
                try await client.settings(scope)
            }
            if options.json { try Output.json(settings); return }
            print("service: \(scope.service)")
            Scale.show(settings)
            if root != nil {
                print("The root directory applies from the next deployment (`yard up` or `yard redeploy`).")
            }
        }
    }
}

extension SleepSetting: ExpressibleByArgument {}
