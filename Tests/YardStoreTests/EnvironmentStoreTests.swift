import Foundation
import Testing
import YardCore
import YardStore

@Suite("SQLite store: environments")
struct EnvironmentStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-store-env-\(UUID().uuidString)")

    @Test("a copy takes every service's plain variables and build secrets, leaves sealed ones out, and makes empty volumes")
    func copyLeavesSealedOut() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let web = try store.createService(projectID: project.id, name: "web")
        let worker = try store.createService(projectID: project.id, name: "worker")
        try store.changeVariables(
            serviceID: web.id, environmentID: production.id,
            set: ["PAGE": "prod", "NPM_TOKEN": "t0ken", "STRIPE_KEY": "sk_live_1"], delete: [],
            buildSecrets: ["NPM_TOKEN"], sealed: ["STRIPE_KEY"])
        try store.changeVariables(serviceID: worker.id, environmentID: production.id, set: ["QUEUE": "jobs"], delete: [])
        try store.addVolume(
            VolumeRecord(
                id: "vol_1", serviceID: worker.id, environmentID: production.id, name: "worker-data", mountPath: "/data",
                createdAt: Date()))
        try store.addDomain(
            DomainRecord(
                hostname: "web-shop.localhost", serviceID: web.id, environmentID: production.id, targetPort: nil, generated: true,
                createdAt: Date()))

        let copy = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id)
        #expect(copy.environment.name == "staging")
        #expect(copy.source.id == production.id)
        let byName = Dictionary(uniqueKeysWithValues: copy.services.map { ($0.serviceName, $0) })
        #expect(byName["web"]?.copiedVariables == ["NPM_TOKEN", "PAGE"])
        #expect(byName["web"]?.sealedNotCopied == ["STRIPE_KEY"])
        #expect(byName["worker"]?.copiedVariables == ["QUEUE"])
        #expect(byName["worker"]?.volumeMountPath == "/data")

        let staging = copy.environment.id
        let copied = try store.variables(serviceID: web.id, environmentID: staging)
        #expect(copied.map(\.key) == ["NPM_TOKEN", "PAGE"])
        #expect(copied.first { $0.key == "NPM_TOKEN" }?.buildSecret == true)
        #expect(copied.first { $0.key == "PAGE" }?.value == "prod")
        // The sealed value is nowhere in the new environment.
        #expect(!copied.contains { $0.value == "sk_live_1" })
        let volume = try #require(try store.volume(serviceID: worker.id, environmentID: staging))
        #expect(volume.id != "vol_1" && volume.mountPath == "/data" && volume.name == "worker-data")
        #expect(try store.domains(serviceID: web.id, environmentID: staging).isEmpty)

        // Changing one environment's variables leaves the other's alone.
        try store.changeVariables(serviceID: web.id, environmentID: staging, set: ["PAGE": "staging"], delete: ["NPM_TOKEN"])
        let production_ = try store.variables(serviceID: web.id, environmentID: production.id)
        #expect(production_.first { $0.key == "PAGE" }?.value == "prod")
        #expect(production_.map(\.key) == ["NPM_TOKEN", "PAGE", "STRIPE_KEY"])
        #expect(production_.first { $0.key == "STRIPE_KEY" }?.sealed == true)
    }

    @Test("names are checked and must be new in the project; the source must be the project's")
    func names() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let (_, otherProduction) = try store.createProject(name: "blog")
        _ = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id)
        let duplicate = #expect(throws: YardError.self) {
            try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id)
        }
        #expect(duplicate?.code == .conflict)
        #expect(duplicate?.message.contains("already has an environment named 'staging'") == true)
        for bad in ["Staging", "pr_1", "-x", "", "a b"] {
            let error = #expect(throws: YardError.self) {
                try store.createEnvironment(projectID: project.id, name: bad, copying: production.id)
            }
            #expect(error?.code == .invalidInput)
        }
        #expect(throws: YardError.self) {
            try store.createEnvironment(projectID: project.id, name: "qa", copying: otherProduction.id)
        }
        // Another project may use the same name.
        let blog = try store.project("blog")
        #expect(try store.createEnvironment(projectID: blog.id, name: "staging", copying: otherProduction.id).environment.name == "staging")
        #expect(try store.environments(projectID: project.id).map(\.name) == ["production", "staging"])
    }

    @Test("deleting an environment removes its rows only, and never the project's last")
    func deleteKeepsOthers() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let web = try store.createService(projectID: project.id, name: "web")
        try store.changeVariables(serviceID: web.id, environmentID: production.id, set: ["A": "1"], delete: [])
        try store.addVolume(
            VolumeRecord(
                id: "vol_p", serviceID: web.id, environmentID: production.id, name: "v", mountPath: "/data", createdAt: Date()))
        let staging = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id).environment
        for (environment, host) in [(production, "web-shop.localhost"), (staging, "web-shop-staging.localhost")] {
            try store.addDomain(
                DomainRecord(
                    hostname: host, serviceID: web.id, environmentID: environment.id, targetPort: nil, generated: true,
                    createdAt: Date()))
            let now = Date()
            try store.insertDeployment(
                DeploymentRecord(
                    id: "dep_\(environment.name)", serviceID: web.id, environmentID: environment.id, status: .queued, reason: nil,
                    trigger: "up", sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: nil,
                    variables: nil, createdAt: now, updatedAt: now))
            try store.saveReplica(
                ReplicaRecord(
                    id: "rep_\(environment.name)", deploymentID: "dep_\(environment.name)", ordinal: 0, port: 1, pid: nil,
                    status: .running, restarts: 0, updatedAt: now))
            _ = try store.subnetIndex(environmentID: environment.id)
        }
        let stagingVolume = try #require(try store.volume(serviceID: web.id, environmentID: staging.id))
        for (environment, id) in [(production, "bak_p"), (staging, "bak_s1"), (staging, "bak_s2")] {
            try store.saveBackup(
                BackupRecord(
                    id: id, serviceID: web.id, environmentID: environment.id, trigger: "manual", status: .succeeded,
                    startedAt: Date(timeIntervalSinceNow: id == "bak_s1" ? -60 : 0), path: "/backups/\(web.id)/\(id).dump"))
        }

        let removal = try store.deleteEnvironment(id: staging.id)
        // Its backups' rows go with it; their files are for the caller, so the removal lists them, oldest first.
        #expect(removal.backups.map(\.id) == ["bak_s1", "bak_s2"])
        #expect(try store.backups(serviceID: web.id, environmentID: staging.id).isEmpty)
        #expect(try store.backups(serviceID: web.id, environmentID: production.id).map(\.id) == ["bak_p"])
        #expect(removal.deploymentIDs == ["dep_staging"])
        #expect(removal.domains == ["web-shop-staging.localhost"])
        #expect(removal.volumeIDs == [stagingVolume.id])
        #expect(throws: YardError.self) { try store.environment(id: staging.id) }
        #expect(throws: YardError.self) { try store.deployment(id: "dep_staging") }
        #expect(try store.replicas(deploymentID: "dep_staging").isEmpty)
        #expect(try store.variables(serviceID: web.id, environmentID: staging.id).isEmpty)
        #expect(try store.allDomains().map(\.hostname) == ["web-shop.localhost"])
        // Production is untouched.
        #expect(try store.deployment(id: "dep_production").environmentID == production.id)
        #expect(try store.replicas(deploymentID: "dep_production").count == 1)
        #expect(try store.variables(serviceID: web.id, environmentID: production.id).map(\.key) == ["A"])
        #expect(try store.volume(serviceID: web.id, environmentID: production.id)?.id == "vol_p")
        // The deleted environment's subnet index is free again; production keeps its own.
        let productionIndex = try store.subnetIndex(environmentID: production.id)
        let qa = try store.createEnvironment(projectID: project.id, name: "qa", copying: production.id).environment
        #expect(try store.subnetIndex(environmentID: qa.id) != productionIndex)

        try store.deleteEnvironment(id: qa.id)
        let last = #expect(throws: YardError.self) { try store.deleteEnvironment(id: production.id) }
        #expect(last?.code == .conflict)
        #expect(last?.message.contains("only environment") == true)
        #expect(try store.environments(projectID: project.id).map(\.name) == ["production"])
    }
}
