import Foundation
import Testing
import YardCore
import YardStore

@Suite("SQLite store: removed generated domains")
struct GeneratedDomainRemovalTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-domains-\(UUID().uuidString)")

    @Test("removing a service's generated domain is remembered per environment; adding a domain clears it")
    func removalIsRemembered() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "jobs")
        let worker = try store.createService(projectID: project.id, name: "worker")
        let staging = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id).environment
        for environment in [production, staging] {
            try store.addDomain(
                DomainRecord(
                    hostname: "worker-jobs-\(environment.name).localhost", serviceID: worker.id, environmentID: environment.id,
                    targetPort: nil, generated: true, createdAt: Date()))
        }
        try store.addDomain(
            DomainRecord(
                hostname: "custom.example", serviceID: worker.id, environmentID: production.id, targetPort: nil,
                generated: false, createdAt: Date()))
        // A custom domain removed: nothing remembered.
        try store.removeDomain(hostname: "custom.example", serviceID: worker.id)
        #expect(!(try store.generatedDomainRemoved(serviceID: worker.id, environmentID: production.id)))
        try store.removeDomain(hostname: "worker-jobs-production.localhost", serviceID: worker.id)
        #expect(try store.generatedDomainRemoved(serviceID: worker.id, environmentID: production.id))
        #expect(!(try store.generatedDomainRemoved(serviceID: worker.id, environmentID: staging.id)))
        #expect(try store.domains(serviceID: worker.id, environmentID: production.id).isEmpty)
        try store.addDomain(
            DomainRecord(
                hostname: "worker.example", serviceID: worker.id, environmentID: production.id, targetPort: nil,
                generated: false, createdAt: Date()))
        #expect(!(try store.generatedDomainRemoved(serviceID: worker.id, environmentID: production.id)))
    }
}
