import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard connect [SERVICE] [-- ARGS]`: psql, redis-cli or mysql against a database service,
/// through its TCP proxy, on this terminal.
struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open psql, redis-cli or mysql against a database service, through its TCP proxy.",
        discussion: """
            The client runs here, on this terminal, against the service's TCP proxy \
            (`yard domain --tcp PORT SERVICE` adds one). The password comes from the server \
            for this purpose only and reaches the client through its environment variable \
            (PGPASSWORD, REDISCLI_AUTH, MYSQL_PWD), never its command line. Arguments after -- \
            go to the client, e.g. yard connect Postgres -- -c 'select 1'.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The database service (default: --service, then this folder's link).")
    var serviceName: String?

    @Flag(help: "Print the public URL (the *_PUBLIC_URL variable, password included) instead of opening a client, e.g. psql \"$(yard connect Postgres --url)\".")
    var url = false

    @Argument(parsing: .postTerminator, help: "Arguments for the client (after --).")
    var clientArguments: [String] = []

    func run() async throws {
        try await reportingErrors {
            var scope = try options.serviceScope()
            if let serviceName { scope.service = serviceName }
            let connection = try await options.client().databaseConnection(scope)
            guard let host = connection.host, let port = connection.port else {
                throw YardError(
                    .conflict,
                    "\(scope.service) has no TCP proxy, so nothing on this machine reaches it: run "
                        + "`yard domain --tcp \(connection.database.port) \(scope.service)` first")
            }
            if url {
                // The one way to read a sealed *_PUBLIC_URL: asked for by name, on stdout only.
                print(connection.publicURL ?? Self.publicURL(connection, host: host, port: port))
                return
            }
            let (arguments, environment) = Self.command(connection, host: host, port: port, extra: clientArguments)
            var processEnvironment = ProcessInfo.processInfo.environment
            processEnvironment.merge(environment) { _, new in new }
            do {
                try Exec.replaceProcess(arguments, environment: processEnvironment)
            } catch let error as YardError {
                throw YardError(error.code, error.message + " (apt-get install -y \(Self.clientPackage(connection.database)))")
            }
        }
    }

    /// The client's argv (no password) and the environment variable that carries the password.
    static func command(_ connection: DatabaseConnectionView, host: String, port: Int, extra: [String])
        -> (arguments: [String], environment: [String: String])
    {
        switch connection.database {
        case .postgres:
            return (
                ["psql", "-h", host, "-p", String(port), "-U", connection.user, "-d", connection.databaseName ?? "postgres"] + extra,
                ["PGPASSWORD": connection.password]
            )
        case .redis:
            return (
                ["redis-cli", "-h", host, "-p", String(port), "--user", connection.user] + extra,
                ["REDISCLI_AUTH": connection.password]
            )
        case .mysql:
            // The database name is mysql's positional argument: the client's options go before it.
            return (
                ["mysql", "--protocol=TCP", "-h", host, "-P", String(port), "-u", connection.user] + extra
                    + (connection.databaseName.map { [$0] } ?? []),
                ["MYSQL_PWD": connection.password]
            )
        }
    }

    /// The URL a client reaches the database at through the proxy, as the `*_PUBLIC_URL`
    /// variable has it (for a proxy added before the variable existed).
    static func publicURL(_ connection: DatabaseConnectionView, host: String, port: Int) -> String {
        var components = URLComponents()
        components.scheme = connection.database == .postgres ? "postgresql" : connection.database.rawValue
        components.user = connection.user
        components.password = connection.password
        components.host = host
        components.port = port
        components.path = connection.databaseName.map { "/\($0)" } ?? ""
        return components.string ?? ""
    }

    static func clientPackage(_ kind: DatabaseKind) -> String {
        switch kind {
        case .postgres: "postgresql-client"
        case .redis: "redis-tools"
        case .mysql: "mariadb-client"
        }
    }
}
