import Foundation
import YardCore
import YardStore

extension Orchestrator {
    /// A digest of resolved variables: equal digests, equal variables.
    static func digest(of variables: [String: String]) -> String {
        let lines = variables.sorted { $0.key < $1.key }.map { "\($0.key.count):\($0.key)=\($0.value.count):\($0.value)" }
        return ContentHash.sha256(lines.joined(separator: "\n"))
    }

    /// Why the live deployment no longer has the variables it would get now (a variable
    /// of the service, of a service it references or a shared one changed), so `yard
    /// status` can say a redeploy is due; nil when they are the same, or unknown.
    public func pendingVariableChange(serviceID: String, environmentID: String) -> String? {
        guard let id = live[ServiceKey(serviceID: serviceID, environmentID: environmentID)],
            let deployment = try? store.deployment(id: id), let deployed = deployment.variablesDigest,
            let service = try? store.service(id: serviceID), let environment = try? store.environment(id: environmentID),
            let project = try? store.project(service.projectID)
        else { return nil }
        do {
            let records = try store.variables(serviceID: serviceID, environmentID: environmentID)
            let plain = Dictionary(records.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            let domain = try store.domains(serviceID: serviceID, environmentID: environmentID).first?.hostname
            let railway = railwayVariables(project: project, environment: environment, service: service, deploymentID: id, domain: domain)
            let now = try resolveReferences(in: plain, service: service, environmentID: environmentID, railway: railway)
            guard Self.digest(of: now) != deployed else { return nil }
            return "variables changed since \(id) went out: `yard redeploy` applies them"
        } catch let error as YardError {
            return "variables changed since \(id) went out, and a redeploy would fail now: \(error.message)"
        } catch {
            return nil
        }
    }
}

extension Orchestrator {
    /// Masks in a deployment's logs every sealed value of its environment that its variables
    /// carry (a sealed variable of its own, or one inside a reference such as
    /// `${{Postgres.DATABASE_URL}}`), so an app that prints it does not put it in a log.
    func maskSealedValues(deploymentID: String, environmentID: String, variables: [String: String]) {
        guard let sealed = try? store.sealedValues(environmentID: environmentID) else { return }
        let carried = sealed.filter { value in variables.values.contains { $0.contains(value) } }
        logs.mask(deploymentID: deploymentID, values: carried)
    }
}

extension Orchestrator {
    /// The services whose variables `service`'s variables reference (`${{Other.KEY}}`),
    /// by name; `shared` and the service itself are left out.
    static func referencedServices(in values: some Sequence<String>, of service: String) -> Set<String> {
        var names = Set<String>()
        for value in values {
            _ = try? VariableReferences.resolve(value) { reference in
                if let owner = reference.service, owner != service, owner != VariableResolver.sharedOwner { names.insert(owner) }
                return ""
            }
        }
        return names
    }

    /// Batch deploys in reference order: before its replicas start, a deployment waits for
    /// the services its variables reference to finish deploying (a database before the
    /// app that reads `${{Postgres.DATABASE_URL}}`). Services that reference each other,
    /// directly or through others, do not wait for each other: they deploy together.
    /// Waits at most the build timeout; a referenced deployment that fails is reported,
    /// not waited for again.
    /// `ownValues`: this deployment's raw variable values, its `railpack.json` ones included.
    func waitForReferencedServices(deploymentID id: String, service: ServiceRecord, environmentID: String, ownValues: [String]) async throws {
        let services = try store.services(projectID: service.projectID)
        var graph: [String: Set<String>] = [:]
        for other in services {
            let values = try store.variables(serviceID: other.id, environmentID: environmentID).map(\.value)
            graph[other.name] = Self.referencedServices(in: values, of: other.name)
        }
        graph[service.name, default: []].formUnion(Self.referencedServices(in: ownValues, of: service.name))
        func reaches(_ start: String, _ goal: String) -> Bool {
            var seen: Set<String> = [start]
            var frontier = [start]
            while let next = frontier.popLast() {
                for neighbour in graph[next] ?? [] where !seen.contains(neighbour) {
                    if neighbour == goal { return true }
                    seen.insert(neighbour)
                    frontier.append(neighbour)
                }
            }
            return false
        }
        let awaited = (graph[service.name] ?? []).filter { !reaches($0, service.name) }.sorted()
        let deadline = ContinuousClock.now + configuration.buildTimeout
        for name in awaited {
            guard let other = services.first(where: { $0.name == name }) else { continue }
            var announced = false
            while ContinuousClock.now < deadline {
                let pending = try store.deployments(serviceID: other.id, environmentID: environmentID, limit: 5)
                    .first { $0.status.isInProgress }
                guard let pending else { break }
                if !announced {
                    logs.append(deploymentID: id, kind: .deploy, stream: .system,
                                message: "waiting for \(name) (\(pending.id), \(pending.status.rawValue)): this service's variables reference it")
                    announced = true
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            if announced {
                let isLive = live[ServiceKey(serviceID: other.id, environmentID: environmentID)] != nil
                logs.append(deploymentID: id, kind: .deploy, stream: .system,
                            message: isLive ? "\(name) is live: starting" : "\(name) did not go live: starting anyway")
            }
        }
    }
}
