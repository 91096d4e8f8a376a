import ArgumentParser
import Foundation
import YardCore
import YardSwarm

/// `yard node isolate`: writes on this machine the rules that keep swarm tasks of different
/// environments apart on it (`SwarmIsolation`). `yard serve --runtime swarm` writes them on its
/// own node; every other node runs this once it joined (and again when nodes change).
struct NodeIsolate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolate",
        abstract: "Write this node's iptables rules that keep swarm tasks from reaching each other and the nodes' published ports.",
        discussion: """
            Runs on the node itself, as root, after it joined the swarm. Tasks may then reach neither another task on \
            this node's docker_gwbridge nor a port of this node or of the nodes named with --node-address, except the \
            edge's ports (--edge-port: a public URL through this node). --remove takes the rules away.
            """)

    @Option(name: .long, help: "The server's network prefix (yard serve's, `yard` by default): chain names start with it.")
    var prefix = "yard"

    @Option(name: .customLong("edge-port"), help: "A port of the edge tasks may still reach (repeat: 80, 443).")
    var edgePorts: [Int] = []

    @Option(name: .customLong("node-address"), help: "A swarm node's address (repeat for each, as `yard node list` shows them).")
    var nodeAddresses: [String] = []

    @Flag(help: "Remove the rules instead.")
    var remove = false

    func run() async throws {
        try await reportingErrors {
            let isolation = SwarmIsolation(prefix: prefix, edgePorts: edgePorts, nodeAddresses: nodeAddresses)
            if remove {
                await isolation.remove()
                print("Removed the swarm isolation rules of \(prefix) from this node.")
                return
            }
            try await isolation.install()
            print(try await isolation.listed(), terminator: "")
        }
    }
}
