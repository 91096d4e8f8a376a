import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard environment`: a project's environments, each with its own private network,
/// domains, variables and volumes.
struct EnvironmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "environment",
        abstract: "List, create, switch to and delete the project's environments.",
        subcommands: [EnvironmentList.self, EnvironmentNew.self, EnvironmentUse.self, EnvironmentDelete.self],
        defaultSubcommand: EnvironmentList.self
    )
}

struct EnvironmentList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the project's environments; * marks the one this folder uses.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let (project, current) = try options.projectScope()
            let environments = try await options.client().environments(project: project)
            if options.json { try Output.json(environments); return }
            for environment in environments {
                let mark = environment.name == current || environment.id == current ? "*" : " "
                print("\(mark) \(environment.name)  (\(environment.id))")
            }
        }
    }
}

struct EnvironmentNew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create an environment as a copy of another: variables and volumes (empty), not sealed values, domains or deployments.",
        discussion: """
            Databases in the copy start empty, with their own passwords. With --with-data their servers start \
            at once, postgres filled from the source database's latest backup (its pg_dump restored, the copy \
            keeping its own password) and redis from its RDB snapshot; a source without a backup is backed up \
            first. MySQL has no backups and starts empty.

            With --pr N --branch BRANCH it opens PR environment pr-N as a GitHub pull_request opened event does: \
            a copy of the environment whose services follow --base (else production), with `environments.pr` \
            of the config applied, deploying BRANCH from the project's git repository at its own domains. \
            Again for an existing pr-N, it redeploys. `yard environment delete pr-N` removes it.
            """
    )

    @Argument(help: "The new environment's name: lower-case letters, digits and dashes (pr-<N> with --pr).")
    var name: String?

    @Option(help: "The environment to copy; defaults to the one this folder uses.")
    var from: String?

    @Option(help: "Open the environment of pull request N (pr-N); needs --branch.")
    var pr: Int?

    @Option(help: "With --pr: the PR's head branch, deployed from the project's git repository.")
    var branch: String?

    @Option(help: "With --pr: the branch the PR merges into (chooses the environment to copy).")
    var base: String?

    @Flag(
        help: "Start the copy's postgres and redis databases from the source's latest backup (taking one first if it has none) instead of empty."
    )
    var withData = false

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if let pr {
            guard pr > 0 else { throw ValidationError("--pr takes the pull request's number, e.g. --pr 42") }
            guard let branch else { throw ValidationError("--pr needs --branch: the PR's head branch to deploy") }
            for value in [branch] + (base.map { [$0] } ?? []) {
                do { try ServiceBranchLink.validate(value) } catch { throw ValidationError(error.message) }
            }
            if let name, name != PullRequestEnvironmentRequest.environmentName(number: pr) {
                throw ValidationError("with --pr \(pr) the environment is named pr-\(pr); leave out '\(name)'")
            }
            if from != nil { throw ValidationError("--from does not apply with --pr: the base is the environment following --base, else production") }
            if withData { throw ValidationError("--with-data does not apply with --pr: a PR environment's databases start empty") }
            return
        }
        if branch != nil || base != nil { throw ValidationError("--branch and --base go with --pr") }
        guard let name else { throw ValidationError("give the new environment's name (or --pr N --branch BRANCH)") }
        do {
            try ResourceName.validate(name, kind: "environment")
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        try await reportingErrors {
            let (project, current) = try options.projectScope()
            if let pr, let branch {
                let result = try await options.client().openPullRequestEnvironment(
                    project: project, request: PullRequestEnvironmentRequest(number: pr, branch: branch, baseBranch: base))
                if options.json { try Output.json(result); return }
                print(result.message.prefix(1).uppercased() + result.message.dropFirst() + ".")
                if !result.deploymentIDs.isEmpty {
                    print("Follow it with `yard status --environment pr-\(pr)`; delete it with `yard environment delete pr-\(pr)`.")
                }
                return
            }
            if withData, !options.json {
                print("Copying the environment and its databases' data (from their latest backups)…")
                Output.flush()
            }
            let copy = try await options.client().createEnvironment(
                project: project, name: name ?? "", from: from ?? current, withData: withData)
            if options.json { try Output.json(copy); return }
            let data = copy.data ?? []
            print(
                "Created environment \(copy.environment.name) from \(copy.from.name). "
                    + (data.isEmpty ? "Nothing is deployed in it yet." : "Its database services were started; nothing else is deployed in it yet."))
            for service in copy.services {
                var parts: [String] = []
                let count = service.copiedVariables.count
                parts.append(count == 0 ? "no variables" : "\(count) variable\(count == 1 ? "" : "s") copied")
                if let volume = service.volume { parts.append("an empty volume at \(volume)") }
                if !(service.newCredentials ?? []).isEmpty { parts.append("new credentials (sealed)") }
                print("  \(service.service): \(parts.joined(separator: ", "))")
                if !service.sealedNotCopied.isEmpty {
                    print("    sealed variables not copied, set them again: \(service.sealedNotCopied.joined(separator: ", "))")
                    print("    (`yard variables --environment \(copy.environment.name) --service \(service.service) --sealed KEY=VALUE`)")
                }
            }
            for database in data { print("  \(database.message)") }
            print("Switch this folder to it with `yard environment use \(copy.environment.name)`, then `yard up`.")
            // Asked for data that did not arrive: the environment exists, but say so by the exit status too.
            let missing = data.filter { !$0.restored && $0.database != .mysql }.map(\.service)
            if !missing.isEmpty {
                throw YardError(
                    .unavailable,
                    "environment \(copy.environment.name) was created, but \(missing.joined(separator: ", ")) did not get "
                        + "\(copy.from.name)'s data: see above")
            }
        }
    }
}

struct EnvironmentUse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "use", abstract: "Make this folder's commands act on another environment of its project.")

    @Argument(help: "Environment name or id.")
    var name: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            var config = try CLIConfig.load()
            guard let folder = config.linkedFolder(for: options.folder), var link = config.links[folder] else {
                throw YardError(.invalidInput, "this folder is not linked to a project: run `yard init` or `yard link PROJECT` first")
            }
            let environments = try await options.client().environments(project: options.project ?? link.project)
            guard let environment = environments.first(where: { $0.name == name || $0.id == name }) else {
                let names = environments.map(\.name).joined(separator: ", ")
                throw YardError(
                    .notFound,
                    "project \(link.project) has no environment '\(name)' (it has \(names)); create it with `yard environment new \(name)`")
            }
            link.environment = environment.name
            config.links[folder] = link
            try config.save()
            if options.json { try Output.json(environment); return }
            print("\(folder) now uses environment \(environment.name) of \(link.project).")
        }
    }
}

struct EnvironmentDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete an environment: its deployments stop; its domains, variables, volumes' data, backups and private network go."
    )

    @Argument(help: "Environment name or id.")
    var name: String

    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.")
    var yes = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let (project, _) = try options.projectScope()
            if !yes {
                print(
                    "Delete environment \(name) of \(project), stopping its deployments and removing its domains, variables, "
                        + "volumes' data and backups?"
                )
                print("Type the environment's name to confirm: ", terminator: "")
                Output.flush()
                guard let answer = readLine(), answer.trimmingCharacters(in: .whitespaces) == name else {
                    throw YardError(.invalidInput, "not confirmed: nothing was deleted (pass --yes to skip the question)")
                }
            }
            let deletion = try await options.client().deleteEnvironment(project: project, environment: name)
            // A folder that used the deleted environment goes back to production (or another).
            var config = try CLIConfig.load()
            var switched: String?
            if let folder = config.linkedFolder(for: options.folder), var link = config.links[folder],
                link.environment == deletion.environment.name || link.environment == deletion.environment.id
            {
                let remaining = try await options.client().environments(project: link.project)
                if let next = remaining.first(where: { $0.name == "production" }) ?? remaining.first {
                    link.environment = next.name
                    config.links[folder] = link
                    try config.save()
                    switched = next.name
                }
            }
            if options.json { try Output.json(deletion); return }
            let stopped = deletion.stoppedDeployments
            print(
                "Deleted environment \(deletion.environment.name): \(stopped) deployment\(stopped == 1 ? "" : "s") stopped, "
                    + "\(deletion.removedDomains.count) domain\(deletion.removedDomains.count == 1 ? "" : "s") and "
                    + "\(deletion.removedVolumes) volume\(deletion.removedVolumes == 1 ? "" : "s") removed"
                    + (deletion.removedBackups == 0
                        ? "."
                        : "; its \(deletion.removedBackups) backup\(deletion.removedBackups == 1 ? "" : "s") went with it, "
                            + "files included."))
            if let switched { print("This folder now uses environment \(switched).") }
        }
    }
}
