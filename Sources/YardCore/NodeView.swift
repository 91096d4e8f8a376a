/// A machine of the cluster the swarm runtime runs replicas on (`yard node list`).
public struct NodeView: Codable, Sendable, Hashable {
    public var id: String
    /// Its hostname.
    public var name: String
    /// `manager` or `worker`.
    public var role: String
    /// `ready`, `down`, `unknown` or `disconnected`.
    public var state: String
    /// `active`, `pause` or `drain`: whether new tasks are placed on it.
    public var availability: String
    /// Where its published ports are reached.
    public var address: String
    /// Tasks running on it now.
    public var tasks: Int
    public var leader: Bool

    public init(id: String, name: String, role: String, state: String, availability: String, address: String, tasks: Int, leader: Bool) {
        self.id = id
        self.name = name
        self.role = role
        self.state = state
        self.availability = availability
        self.address = address
        self.tasks = tasks
        self.leader = leader
    }
}

public struct NodeListView: Codable, Sendable, Hashable {
    public var nodes: [NodeView]

    public init(nodes: [NodeView]) {
        self.nodes = nodes
    }
}

/// `yard node drain|activate NODE`.
public struct NodeAvailabilityRequest: Codable, Sendable, Hashable {
    /// `active`, `pause` or `drain`.
    public var availability: String

    public init(availability: String) {
        self.availability = availability
    }
}

/// `yard node add`: how a new machine joins the swarm as a worker. The join token is a
/// credential: it goes in a 0600 file on that machine and reaches dockerd in a request body,
/// never a command line.
public struct NodeJoinView: Codable, Sendable, Hashable {
    /// The managers' swarm addresses (`HOST:2377`).
    public var managerAddresses: [String]
    public var joinToken: String
    /// The registry the nodes pull images from (plain HTTP: it must be an insecure registry).
    public var registry: String?
    /// `/etc/docker/daemon.json` for the new machine.
    public var daemonConfiguration: String
    /// The body of the Engine API's `POST /swarm/join`, with `ADDRESS` for the machine's own address.
    public var joinRequest: String

    public init(managerAddresses: [String], joinToken: String, registry: String?, daemonConfiguration: String, joinRequest: String) {
        self.managerAddresses = managerAddresses
        self.joinToken = joinToken
        self.registry = registry
        self.daemonConfiguration = daemonConfiguration
        self.joinRequest = joinRequest
    }
}
