import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save the API URL and token the CLI uses.")

    @Option(help: "The API URL `yard serve` printed.")
    var apiURL = "http://127.0.0.1:8787"

    @Option(help: "An API token (the server writes the admin token to <data-dir>/admin.token). Read from stdin if omitted.")
    var token: String?

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            var secret = token
            if secret == nil {
                secret = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
            }
            guard let secret, !secret.isEmpty, let url = URL(string: apiURL) else {
                throw YardError(.invalidInput, "give a token with --token, or on standard input")
            }
            let info = try await YardAPIClient(baseURL: url, token: secret).info()
            var config = try CLIConfig.load()
            config.apiURL = apiURL
            config.token = secret
            try config.save()
            if json { try Output.json(info) } else {
                print("Logged in to \(apiURL) (Switchyard \(info.version)); credentials saved to \(CLIConfig.fileURL().path)")
            }
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a project and link this folder to it.",
        discussion: """
            The folder's service is created too, so variables and limits can be set before the first `yard up`. \
            A folder whose root railpack.json has a `services` map gets one service per entry instead, each with \
            the entry's root directory.
            """
    )

    @Option(help: "Project name (default: this folder's name).")
    var name: String?

    @Option(help: "The service's root directory inside this folder (e.g. packages/web); `yard service --root` changes it later.")
    var root: String?

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if let root { _ = try ServiceSettingsChange.normalizedRoot(root) }
    }

    func run() async throws {
        try await reportingErrors {
            let folder = options.folder
            let projectName = name ?? ResourceName.slug(folder.lastPathComponent)
            let client = try options.client()
            let map = try ServiceLayout.servicesMap(in: folder)
            if let map, options.service == nil {
                if let root {
                    throw YardError(
                        .invalidInput,
                        "\(map.fileName) has a `services` map, which sets each service's root directory; drop --root '\(root)'")
                }
                let project = try await client.createProject(name: projectName)
                for entry in map.services {
                    _ = try await client.createService(project: project.name, name: entry.name, rootDirectory: entry.root)
                }
                var config = try CLIConfig.load()
                config.links[folder.standardizedFileURL.path] = .init(project: project.name, environment: "production", service: nil)
                try config.save()
                if options.json { try Output.json(try await client.project(project.name)) } else {
                    let names = map.services.map { "\($0.name) (root \($0.root))" }.joined(separator: ", ")
                    print("Created project \(project.name) with environment production; \(folder.path) is linked to it.")
                    print("Services from \(map.fileName): \(names).")
                    print("Next: `yard up` deploys them all; `yard up --service NAME` deploys one.")
                }
                return
            }
            let project = try await client.createProject(name: projectName)
            var config = try CLIConfig.load()
            let service = options.service ?? ResourceName.slug(folder.lastPathComponent)
            // The folder's service exists from now on, so variables, limits and volumes can be
            // set before the first `yard up`.
            let created = try await client.createService(project: project.name, name: service, rootDirectory: root)
            config.links[folder.standardizedFileURL.path] = .init(project: project.name, environment: "production", service: service)
            try config.save()
            if options.json { try Output.json(project) } else {
                let rootNote = created.rootDirectory.map { ", root directory \($0)" } ?? ""
                print("Created project \(project.name) with environment production; \(folder.path) is linked to it (service \(service)\(rootNote)).")
                print("Next: `yard up` deploys this folder.")
            }
        }
    }
}

struct Link: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Link this folder to an existing project.")

    @Argument(help: "Project name or id.")
    var projectName: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let project = try await options.client().project(projectName)
            let environment = options.environment ?? "production"
            guard project.environments.contains(where: { $0.name == environment || $0.id == environment }) else {
                throw YardError(.notFound, "project \(project.name) has no environment '\(environment)'")
            }
            var config = try CLIConfig.load()
            config.links[options.folder.standardizedFileURL.path] = .init(project: project.name, environment: environment, service: options.service)
            try config.save()
            if options.json { try Output.json(project) } else {
                print("Linked \(options.folder.path) to \(project.name) (\(environment))\(options.service.map { ", service \($0)" } ?? "").")
            }
        }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List projects.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let projects = try await options.client().projects()
            if options.json { try Output.json(projects); return }
            if projects.isEmpty { print("No projects yet: `yard init` creates one.") }
            for project in projects {
                let services = project.services.map(\.name).joined(separator: ", ")
                print("\(project.name)  (\(project.id))  environments: \(project.environments.map(\.name).joined(separator: ", "))  services: \(services.isEmpty ? "none" : services)")
            }
        }
    }
}
