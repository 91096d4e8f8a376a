import ArgumentParser
import Foundation
import YardClient
import YardCore

/// Flags every command that talks to the server shares.
struct ClientOptions: ParsableArguments {
    @Flag(help: "Print machine-readable JSON.")
    var json = false

    @Option(help: "Project (name or id); defaults to this folder's link.")
    var project: String?

    @Option(name: .shortAndLong, help: "Environment (name or id); defaults to this folder's link, then production.")
    var environment: String?

    @Option(name: .shortAndLong, help: "Service name; defaults to this folder's link, then the folder's name.")
    var service: String?

    /// The API client, from YARD_API_URL/YARD_TOKEN or the saved login.
    func client() throws -> YardAPIClient { try ServerOptions.makeClient() }

    var folder: URL { URL(fileURLWithPath: FileManager.default.currentDirectoryPath) }

    /// Project and environment from the flags or the folder's link.
    func projectScope() throws -> (project: String, environment: String) {
        let link = try CLIConfig.load().link(for: folder)
        guard let project = project ?? link?.project else {
            throw YardError(.invalidInput, "this folder is not linked to a project: run `yard init` or `yard link PROJECT`, or pass --project")
        }
        return (project, environment ?? link?.environment ?? "production")
    }

    /// Project, environment and service from the flags, the folder's link and its name.
    func serviceScope() throws -> YardAPIClient.Scope {
        let (project, environment) = try projectScope()
        let link = try CLIConfig.load().link(for: folder)
        let name = service ?? link?.service ?? ResourceName.slug(folder.lastPathComponent)
        return YardAPIClient.Scope(project: project, environment: environment, service: name)
    }
}

/// Flags of commands that talk to the server as a whole (no project or service).
struct ServerOptions: ParsableArguments {
    @Flag(help: "Print machine-readable JSON.")
    var json = false

    func client() throws -> YardAPIClient { try Self.makeClient() }

    /// The API client, from YARD_API_URL/YARD_TOKEN or the saved login.
    static func makeClient() throws -> YardAPIClient {
        let env = ProcessInfo.processInfo.environment
        let config = try CLIConfig.load()
        guard let urlText = env["YARD_API_URL"] ?? config.apiURL, let url = URL(string: urlText) else {
            throw YardError(.unauthorized, "not logged in: run `yard login --api-url URL --token TOKEN`, or set YARD_API_URL and YARD_TOKEN")
        }
        guard let token = env["YARD_TOKEN"] ?? config.token, !token.isEmpty else {
            throw YardError(.unauthorized, "no API token: run `yard login`, or set YARD_TOKEN (the server writes one to <data-dir>/admin.token)")
        }
        return YardAPIClient(baseURL: url, token: token)
    }
}

/// Prints values as JSON for `--json`.
enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        print(String(decoding: try YardJSON.encoder(pretty: true).encode(value), as: UTF8.self))
    }

    /// Makes printed lines visible at once when stdout is a pipe (tests, `| tee`).
    static func flush() {
        fflush(nil)
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
    }
}

/// Runs a command body, turning a YardError into its message and a non-zero exit.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as YardError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode.failure
    }
}
