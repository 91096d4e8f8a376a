import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard drain`: forward a service's log lines to a syslog receiver or an HTTP endpoint.
struct Drain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log drains: a service's log lines forwarded to syslog (RFC 5424 over TCP) or HTTP (JSON batches).",
        subcommands: [DrainList.self, DrainAdd.self, DrainRemove.self], defaultSubcommand: DrainList.self)
}

struct DrainList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the service's drains with lines sent and dropped.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let drains = try await options.client().logDrains(try options.serviceScope())
            if options.json { try Output.json(drains); return }
            if drains.isEmpty { print("No log drains: `yard drain add --syslog tcp://host:port` adds one.") }
            for drain in drains {
                print("\(drain.id)  \(drain.kind)  \(drain.target)  sent \(drain.sent)  dropped \(drain.dropped)  queued \(drain.queued)")
            }
        }
    }
}

struct DrainAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a drain to the service.")
    @Option(help: "A syslog receiver, tcp://host:port or tls://host:port (RFC 5424, octet-counted frames; TLS per RFC 5425).") var syslog: String?
    @Option(help: "An HTTP endpoint that gets JSON arrays of lines.") var http: String?
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let request: CreateLogDrainRequest
            switch (syslog, http) {
            case (let url?, nil): request = CreateLogDrainRequest(kind: "syslog", url: url)
            case (nil, let url?): request = CreateLogDrainRequest(kind: "http", url: url)
            default: throw YardError(.invalidInput, "give exactly one of --syslog tcp://host:port (or tls://) or --http URL")
            }
            let drain = try await options.client().createLogDrain(try options.serviceScope(), request: request)
            if options.json { try Output.json(drain); return }
            print("Added \(drain.id): \(drain.service) → \(drain.kind) \(drain.target)")
        }
    }
}

struct DrainRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a drain (its id from `yard drain ls`).")
    @Argument(help: "The drain's id.") var drain: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            try await options.client().deleteLogDrain(project: try options.projectScope().project, drain: drain)
            if options.json { try Output.json(["removed": drain]); return }
            print("Removed \(drain)")
        }
    }
}
