import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard webhook`: the project's GitHub webhook, which opens and closes PR environments.
struct Webhook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The project's GitHub webhook: pull_request events open and close pr-<n> environments, push events deploy.",
        subcommands: [WebhookShow.self, WebhookSecret.self],
        defaultSubcommand: WebhookShow.self
    )
}

struct WebhookShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the webhook's URL and whether it has a secret.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let webhook = try await client.webhook(project: try options.projectScope().project)
            if options.json { try Output.json(webhook); return }
            print("Payload URL: \(client.apiURL(path: webhook.path).absoluteString)")
            print("Content type: application/json; events: pull_request, push")
            print(
                webhook.secretConfigured
                    ? "Secret: set (shown only when generated; `yard webhook secret` makes a new one)"
                    : "Secret: none yet: run `yard webhook secret`; deliveries are refused until then")
        }
    }
}

struct WebhookSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Generate a new webhook secret and print it once; deliveries signed with an older one are refused from now on."
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let webhook = try await client.generateWebhookSecret(project: try options.projectScope().project)
            if options.json { try Output.json(webhook); return }
            print("Payload URL: \(client.apiURL(path: webhook.path).absoluteString)")
            print("Secret: \(webhook.secret ?? "")")
            print("Give both to GitHub (Settings → Webhooks, content type application/json). The secret is not shown again.")
        }
    }
}
