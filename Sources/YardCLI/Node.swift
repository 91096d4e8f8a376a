import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard node`: the machines of the swarm runtime (`yard serve --runtime swarm`).
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "The swarm's machines: list them, add one, drain one for maintenance (its replicas move to the others), activate it again, remove it.",
        subcommands: [NodeList.self, NodeAdd.self, NodeDrain.self, NodeActivate.self, NodeRemove.self, NodeIsolate.self]
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

/// `yard node add`: what to run on a new machine so that it joins as a worker.
struct NodeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Print what to run on a new machine so that it joins the swarm as a worker.",
        discussion: "The output holds the swarm's join token: it is a credential; it goes in a 0600 file, never on a command line.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        try await reportingErrors {
            let join = try await options.client().nodeJoin()
            if options.json { try Output.json(join); return }
            print("""
                On the new machine (Debian 12, as root; it must reach \(join.managerAddresses.joined(separator: ", ")) and the others' ports 7946 and 4789):

                1. Install Docker and give it these settings, then start dockerd:
                   apt-get install -y docker.io
                   cat > /etc/docker/daemon.json <<'JSON'
                \(join.daemonConfiguration.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
                JSON

                2. Join as a worker. Replace ADDRESS with this machine's address on the managers' network.
                   The token goes through a 0600 file and the Engine API, never a command line:
                   (umask 077; cat > /root/yard-join.json <<'JSON'
                \(join.joinRequest.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
                JSON
                   )
                   curl -fsS --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \\
                        --data @/root/yard-join.json http://docker/v1.41/swarm/join && rm /root/yard-join.json

                3. Keep tasks of different environments apart on it (the tasks could otherwise reach each other
                   and every published port through docker_gwbridge). With yard installed there, as root:
                   yard node isolate --prefix PREFIX --edge-port 80 --edge-port 443 --node-address ADDRESS ...
                   (yard serve's --network-prefix, the edge's ports, and every node's address as yard node list shows)

                4. Check from here: yard node list
                """)
        }
    }
}

/// `yard node remove NODE`: a drained worker leaves the swarm.
struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a drained worker from the swarm (drain it first: its replicas move away).", aliases: ["rm"])

    @OptionGroup var availability: NodeAvailabilityOptions

    func run() async throws {
        try await reportingErrors {
            let removed = try await availability.options.client().removeNode(availability.node)
            if availability.options.json { try Output.json(removed); return }
            print("Node \(removed.name) (\(removed.id.prefix(12))) is no longer in the swarm. On that machine, run: docker swarm leave")
        }
    }
}
