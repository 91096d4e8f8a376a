import Foundation
import YardCore

/// The port a replica listens on (its `PORT`) and the router and health check go to.
///
/// As on Railway, a `PORT` the user set is that port: apps and Dockerfiles that listen on
/// 8080 whatever they are told rely on it. The sandbox runtime gives every replica its own
/// address, so every replica of every deployment can listen on it at once. Plain processes
/// share the host's ports, where two replicas (or the old and the new deployment during a
/// redeploy) cannot both listen on one: there each replica keeps a port of its own and the
/// deploy log says the user's `PORT` was not applied.
struct ReplicaPort: Equatable {
    /// The port to use; nil: allocate a free one.
    var fixed: Int?
    /// For the deploy log, when the user's `PORT` was set but not applied.
    var warning: String?

    /// - Parameters:
    ///   - userPort: the `PORT` variable of the deployment, if the user set one.
    ///   - databasePort: the port a database service's own variables give it.
    ///   - ownAddress: whether each replica has its own address (the sandbox runtime).
    ///   - imagePort: an image artifact's lowest `EXPOSE`d port, used when `PORT` is not set.
    /// - Throws: `invalidConfig` when `userPort` is not a TCP port.
    static func choose(userPort: String?, databasePort: Int?, ownAddress: Bool, imagePort: Int? = nil) throws -> ReplicaPort {
        // A database listens where its variables say (other services connect there).
        if let databasePort { return ReplicaPort(fixed: databasePort) }
        guard let userPort else { return ReplicaPort(fixed: ownAddress ? imagePort : nil) }
        let trimmed = userPort.trimmingCharacters(in: .whitespaces)
        guard let port = Int(trimmed), (1...65535).contains(port) else {
            throw YardError(
                .invalidConfig,
                "the PORT variable is '\(userPort)', which is not a TCP port (1-65535): set it to the port the app listens on "
                    + "(`yard variables --set PORT=8080`), or delete it (`yard variables --delete PORT`) to give each replica one")
        }
        guard ownAddress else {
            return ReplicaPort(
                warning: "warning: PORT=\(port) is set, but with `yard serve --runtime plain` replicas share the host's ports, "
                    + "so each replica gets a PORT of its own and traffic goes there; an app that listens on \(port) "
                    + "whatever PORT says will not pass its health check. The sandbox runtime gives each replica its own "
                    + "address, where PORT=\(port) is used as it is.")
        }
        return ReplicaPort(fixed: port)
    }
}
