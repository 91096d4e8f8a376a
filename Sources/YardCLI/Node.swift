import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard node`: the machines of the swarm runtime (`yard serve --runtime swarm`).
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "The swarm's machines: list them, drain one for maintenance (its replicas move to the others), activate it again.",
        subcommands: [NodeList.self, NodeDrain.self, NodeActivate.self]
    )
}

struct NodeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the swarm's nodes: role, state, availability, address and running tasks.", aliases: ["ls"])

    @OptionGroup var options: ServerOptions

    func run() async throws {
        try await reportingErrors {
            let nodes = try await options.client().nodes()
            if options.json { try Output.json(NodeListView(nodes: nodes)); return }
            print("ID            NAME                ROLE     STATE   AVAILABILITY  ADDRESS          TASKS")
            for node in nodes {
                let role = node.role + (node.leader ? "*" : "")
                print(
                    [String(node.id.prefix(12)), node.name, role, node.state, node.availability, node.address]
                        .enumerated().map { $1.padding(toLength: [13, 19, 8, 7, 13, 16][$0], withPad: " ", startingAt: 0) }
                        .joined(separator: " ") + " \(node.tasks)")
            }
        }
    }
}

/// `yard node drain NODE` and `yard node activate NODE`: the same call, another availability.
struct NodeAvailabilityOptions: ParsableArguments {
    @OptionGroup var options: ServerOptions

    @Argument(help: "The node: its id (or the start of it) or its hostname, as `yard node list` shows it.")
    var node: String

    func set(_ availability: String, done: String) async throws {
        try await reportingErrors {
            let answer = try await options.client().setNodeAvailability(availability, node: node)
            if options.json { try Output.json(answer); return }
            print("Node \(answer.name) (\(answer.id.prefix(12))) is \(answer.availability): \(done)")
        }
    }
}

struct NodeDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Stop placing replicas on NODE and move the ones it runs to the other nodes.")

    @OptionGroup var availability: NodeAvailabilityOptions

    func run() async throws {
        try await availability.set("drain", done: "its replicas move to the other nodes")
    }
}

struct NodeActivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activate", abstract: "Let NODE take replicas again (after `yard node drain`).")

    @OptionGroup var availability: NodeAvailabilityOptions

    func run() async throws {
        try await availability.set("active", done: "it takes new replicas again")
    }
}
