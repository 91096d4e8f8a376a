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
