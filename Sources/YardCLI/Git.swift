import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard git`: the project's git repository on the server (`git push` deploys).
struct Git: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The project's git repository: pushing a branch deploys the services linked to it.",
        subcommands: [GitRemote.self, GitReceiveHook.self]
    )
}

/// `yard git remote`: the URL to push to and how git authenticates.
struct GitRemote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Print the project's git URL (git remote add yard URL; git push yard main).",
        discussion: """
            git authenticates with HTTP Basic: any user name, an API token as the password. \
            The token is printed only with --with-token, inside the URL.
            """
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Print a URL with the API token in it (http://yard:TOKEN@…); it ends up in .git/config if you add it as a remote.")
    var withToken = false

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let project = try await client.project(try options.projectScope().project)
            let url = client.gitRemoteURL(projectID: project.id)
            var shown = url.absoluteString
            if withToken, var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
                components.user = "yard"
                components.password = client.token
                shown = components.string ?? shown
            }
            if options.json {
                try Output.json(["url": shown, "project": project.name])
                return
            }
            print(shown)
            if !withToken {
                FileHandle.standardError.write(
                    Data(
                        """
                        git asks for a user name (any) and a password: give an API token (`yard login` saved yours; \
                        `yard git remote --with-token` prints a URL that carries it).
                        Pushing a branch deploys the services linked to it: yard service link --branch main

                        """.utf8))
            }
        }
    }
}

/// `yard git receive-hook`: run by the repository's post-receive hook (not by people).
/// Reads git's `old new ref` lines and reports them to the API, printing its answer, which
/// git shows the pusher as `remote: …` lines.
struct GitReceiveHook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive-hook",
        abstract: "Report a push to the API (run by the server's post-receive hook).",
        shouldDisplay: false
    )

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let project = environment["YARD_GIT_PROJECT"], let urlText = environment["YARD_API_URL"],
            let url = URL(string: urlText), let token = environment["YARD_TOKEN"]
        else {
            print("switchyard: this hook runs only under yard serve's git endpoint; nothing deployed")
            throw ExitCode.failure
        }
        var updates: [GitRefUpdate] = []
        while let line = readLine() {
            let fields = line.split(separator: " ")
            guard fields.count == 3 else { continue }
            updates.append(GitRefUpdate(ref: String(fields[2]), old: String(fields[0]), new: String(fields[1])))
        }
        do {
            try await YardAPIClient(baseURL: url, token: token).reportPush(project: project, updates: updates) { line in
                print(line)
                Output.flush()
            }
        } catch let error as YardError {
            // The push itself succeeded; say why nothing deployed.
            print("switchyard: the push was stored but not deployed: \(error.message)")
            throw ExitCode.failure
        }
    }
}
