import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard add --database postgres|redis|mysql [--name N]`: a database service in the current
/// environment, running the real server, reachable at `<name>.railway.internal`.
/// `yard add --image REF [--name N]`: an image service, pulled from its registry.
struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a database service (postgres, redis or mysql) or an image service to the environment and deploy it.",
        discussion: """
            A database service runs the server from the machine's packages in its own sandbox, on the \
            environment's private network, with a volume for its data. Its variables (PGHOST, \
            DATABASE_URL, REDIS_URL, MYSQL_URL, ...) are named as on Railway; the password ones are sealed. \
            Other services use them by reference, e.g. DATABASE_URL=${{Postgres.DATABASE_URL}}.

            An image service (--image redis:7, --image ghcr.io/org/app:tag) runs the image, pulled from \
            its registry at every deploy (or found on the machine, see `yard image import`). For a private \
            image give --registry-username and the password on stdin (--registry-password-stdin) or in \
            YARD_REGISTRY_PASSWORD; it is stored sealed.
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(name: .shortAndLong, help: "The database: postgres, redis or mysql (MariaDB).")
    var database: String?

    @Option(help: "An image to run as a service, e.g. redis:7 or ghcr.io/org/app:tag.")
    var image: String?

    @Option(help: "Service name (default: Postgres, Redis, MySQL, as on Railway; for an image its last name part).")
    var name: String?

    @OptionGroup var registry: RegistryLoginOptions

    @Flag(help: "Do not wait for the service to be live.")
    var detach = false

    func validate() throws {
        guard (database == nil) != (image == nil) else { throw ValidationError("give --database KIND or --image REF") }
        do {
            if let database { _ = try DatabaseKind(argument: database) }
            if let image { _ = try ImageReference(parsing: image) }
        } catch {
            throw ValidationError(error.message)
        }
        if database != nil, registry.isGiven {
            throw ValidationError("--registry-username and --registry-password-stdin apply to --image only")
        }
        try registry.validate()
    }

    func run() async throws {
        if let image {
            try await addImage(image)
            return
        }
        guard let database else { return }
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

    private func addImage(_ image: String) async throws {
        try await reportingErrors {
            let (project, environment) = try options.projectScope()
            let client = try options.client()
            let login = try registry.login()
            let added = try await client.addImageService(
                project: project, environment: environment,
                request: CreateImageServiceRequest(image: image, name: name, registryUsername: login?.username, registryPassword: login?.password))
            if options.json && detach { try Output.json(added); return }
            if !options.json {
                print("Added image service \(added.service.name) (\(added.service.image ?? image)) to environment \(environment).")
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

/// A registry login for a private image: the user name as an option, the password never on
/// the command line (stdin, or `YARD_REGISTRY_PASSWORD`).
struct RegistryLoginOptions: ParsableArguments {
    static let passwordVariable = "YARD_REGISTRY_PASSWORD"

    @Option(help: "The registry login's user name, for a private image.")
    var registryUsername: String?

    @Flag(help: "Read the registry password from stdin (else from YARD_REGISTRY_PASSWORD).")
    var registryPasswordStdin = false

    var isGiven: Bool { registryUsername != nil || registryPasswordStdin }

    func validate() throws {
        if registryPasswordStdin, registryUsername == nil {
            throw ValidationError("--registry-password-stdin needs --registry-username USER")
        }
    }

    /// The login, reading the password; nil without --registry-username.
    func login() throws -> (username: String, password: String)? {
        guard let registryUsername else { return nil }
        let password: String?
        if registryPasswordStdin {
            password = readLine(strippingNewline: true)
        } else {
            password = ProcessInfo.processInfo.environment[Self.passwordVariable]
        }
        guard let password, !password.isEmpty else {
            throw YardError(.invalidInput, "--registry-username needs a password: pipe it to --registry-password-stdin, "
                + "or set \(Self.passwordVariable)")
        }
        return (registryUsername, password)
    }
}
