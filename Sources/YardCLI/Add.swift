import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard add --database postgres|redis|mysql [--name N]`: a database service in the current
/// environment, running the real server, reachable at `<name>.railway.internal`.
struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a database service (postgres, redis or mysql) to the environment and deploy it.",
        discussion: """
            The service runs the server from the machine's packages in its own sandbox, on the \
            environment's private network, with a volume for its data. Its variables (PGHOST, \
            DATABASE_URL, REDIS_URL, MYSQL_URL, ...) are named as on Railway; the password ones are sealed. \
            Other services use them by reference, e.g. DATABASE_URL=${{Postgres.DATABASE_URL}}.
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(name: .shortAndLong, help: "The database: postgres, redis or mysql (MariaDB).")
    var database: String

    @Option(help: "Service name (default: Postgres, Redis, MySQL, as on Railway).")
    var name: String?

    @Flag(help: "Do not wait for the database to be live.")
    var detach = false

    func validate() throws {
        do {
            _ = try DatabaseKind(argument: database)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        try await reportingErrors {
            let (project, environment) = try options.projectScope()
            let client = try options.client()
            let added = try await client.addDatabase(project: project, environment: environment, database: database, name: name)
            if options.json && detach { try Output.json(added); return }
            if !options.json {
                print("Added \(added.service.database?.rawValue ?? database) service \(added.service.name) to environment \(environment).")
                print("Reachable from the environment's services at \(added.host):\(added.port)")
                print("Variables (use them as ${{\(added.service.name).NAME}}):")
                for variable in added.variables { print("  " + VariableAssignments.line(variable)) }
                Output.flush()
            }
            if detach {
                print("Deployment \(added.deployment.id) queued; `yard status` shows it.")
                return
            }
            try await DeploymentFollower(client: client, json: options.json).follow(added.deployment)
        }
    }
}
