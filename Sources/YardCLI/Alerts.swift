import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard alerts`: rules that notify a channel when a service fails, crashes, loops, runs out
/// of memory or answers badly; `yard alerts` alone lists the rules and their state.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Alert rules and the channels they notify (signed webhooks, Slack, Discord, email).",
        subcommands: [AlertsList.self, AlertsAdd.self, AlertsRemove.self, AlertsTest.self, AlertsChannel.self],
        defaultSubcommand: AlertsList.self
    )
}

struct AlertsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the project's rules with their state.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let rules = try await options.client().alertRules(project: try options.projectScope().project)
            if options.json { try Output.json(rules); return }
            if rules.isEmpty {
                print("No alert rules: `yard alerts add KIND --service S --channel NAME` adds one (kinds: \(AlertKind.names)).")
                return
            }
            for rule in rules {
                var line = "\(rule.id)  \(rule.kind.rawValue)"
                if let above = rule.above { line += " above \(above)" }
                if !rule.kind.isEventDriven || rule.kind == .crashLoop { line += " over \(AlertDurationText.text(rule.overSeconds))" }
                line += "  \(rule.service)/\(rule.environment) → \(rule.channel)  \(rule.state.rawValue.uppercased())"
                if let detail = rule.detail, rule.state == .firing { line += "  (\(detail))" }
                print(line)
            }
        }
    }
}

struct AlertsAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a rule: deployment-failed, crashed, oom, crash-loop, backup-failed, error-rate, latency, memory, volume, node-down.",
        discussion: """
            yard alerts add error-rate --service web --above 20% --over 1m --channel ops
            yard alerts add latency --service web --above 500ms --channel ops
            yard alerts add crash-loop --service worker --channel ops
            """)

    @Argument(help: "The kind of rule.") var kind: String
    @Option(help: "The threshold: a percentage (error-rate, memory, volume) or a time (latency), e.g. 20% or 500ms.") var above: String?
    @Option(help: "The window: error-rate and latency look at it, memory must stay above for it; event rules resolve after it without events (default 5m).")
    var over: String?
    @Option(help: "How often a firing rule notifies again (default 1h).") var `repeat`: String?
    @Option(help: "The channel to notify (`yard alerts channel ls`).") var channel: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let kind = try AlertKind.parse(self.kind)
            if let above { _ = try AlertThreshold.parse(above) }
            let rule = try await options.client().createAlertRule(
                try options.serviceScope(),
                request: CreateAlertRuleRequest(kind: kind.rawValue, channel: channel, above: above, over: over, repeat: `repeat`))
            if options.json { try Output.json(rule); return }
            print("Added \(rule.id): \(rule.kind.rawValue)\(rule.above.map { " above \($0)" } ?? "") on \(rule.service) → \(rule.channel)")
        }
    }
}

struct AlertsRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a rule (its id from `yard alerts`).")

    @Argument(help: "The rule's id.") var rule: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            try await options.client().deleteAlertRule(project: try options.projectScope().project, rule: rule)
            if options.json { try Output.json(["removed": rule]); return }
            print("Removed \(rule)")
        }
    }
}

struct AlertsTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test", abstract: "Send a test alert to a channel.")

    @Argument(help: "The channel's name.") var channel: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let result = try await options.client().testAlertChannel(project: try options.projectScope().project, channel: channel)
            if options.json { try Output.json(result) } else { print(result.message) }
            if !result.delivered { throw ExitCode.failure }
        }
    }
}

struct AlertsChannel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel", abstract: "The project's alert channels.",
        subcommands: [AlertsChannelList.self, AlertsChannelAdd.self, AlertsChannelRemove.self], defaultSubcommand: AlertsChannelList.self)
}

struct AlertsChannelList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the channels.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let channels = try await options.client().alertChannels(project: try options.projectScope().project)
            if options.json { try Output.json(channels); return }
            if channels.isEmpty { print("No alert channels: `yard alerts channel add NAME --webhook URL` adds one.") }
            for channel in channels {
                print("\(channel.name)  \(channel.kind.rawValue)  \(channel.target)  failed deliveries: \(channel.failedDeliveries)")
            }
        }
    }
}

struct AlertsChannelAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a channel; a webhook channel prints its signing secret once.")

    @Argument(help: "The channel's name (letters, digits, dashes).") var name: String
    @Option(help: "A URL that gets signed JSON POSTs (X-Yard-Signature, X-Yard-Timestamp).") var webhook: String?
    @Option(help: "A Slack incoming webhook URL.") var slack: String?
    @Option(help: "A Discord webhook URL.") var discord: String?
    @Option(help: "An email address (the server's --smtp-url relay sends it).") var email: String?
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let choices: [(AlertChannelKind, String?)] = [(.webhook, webhook), (.slack, slack), (.discord, discord), (.email, email)]
            let given = choices.compactMap { kind, value in value.map { (kind, $0) } }
            guard given.count == 1, let choice = given.first else {
                throw YardError(.invalidInput, "give exactly one of --webhook URL, --slack URL, --discord URL, --email ADDRESS")
            }
            let (kind, target) = choice
            let channel = try await options.client().createAlertChannel(
                project: try options.projectScope().project, request: CreateAlertChannelRequest(name: name, kind: kind, target: target))
            if options.json { try Output.json(channel); return }
            print("Added channel \(channel.name) (\(channel.kind.rawValue) → \(channel.target))")
            if let secret = channel.secret {
                print("Signing secret: \(secret)")
                print("It is not shown again. Verify X-Yard-Signature = v1=HMAC-SHA256(secret, X-Yard-Timestamp + \".\" + body); refuse timestamps over 5 minutes old.")
            }
        }
    }
}

struct AlertsChannelRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a channel and the rules that notify it.")

    @Argument(help: "The channel's name.") var name: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            try await options.client().deleteAlertChannel(project: try options.projectScope().project, channel: name)
            if options.json { try Output.json(["removed": name]); return }
            print("Removed channel \(name) and its rules")
        }
    }
}
