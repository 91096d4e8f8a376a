import ArgumentParser
import Foundation

/// The `yard` command: a thin layer that parses arguments and calls the libraries.
public struct Yard: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "yard",
        abstract: "Switchyard: deploy folders and repositories with Railway's config, on your own machine.",
        version: SwitchyardVersion.current,
        subcommands: [
            Serve.self, Login.self, Init.self, Link.self, List.self, EnvironmentCommand.self, Up.self, Build.self, Status.self, Logs.self,
            Deployments.self, Runs.self, Variables.self, Domain.self, Redeploy.self, Restart.self, Sleep.self, Down.self, Remove.self, Cancel.self,
            Rollback.self, Scale.self, Service.self, Volume.self, Add.self, Cache.self, Git.self, Shell.self, Run.self,
            StaticServe.self, Backup.self, Connect.self, Webhook.self, ImageCommand.self,
            Metrics.self, Alerts.self, Drain.self,
            NodeCommand.self, Export.self, Edge.self,
        ]
    )

    public init() {}
}

public enum SwitchyardVersion {
    public static let current = "0.1.0"
}

extension Yard {
    /// Parses the command line and runs the chosen command, async or not.
    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
