import Foundation
import YardConfig
import YardCore
import YardStore

extension Orchestrator {
    /// What a push did for one service, or why it did nothing.
    public struct PushOutcome: Sendable {
        /// The deployment it queued, or the SKIPPED one its watch patterns gave it.
        public var deployment: DeploymentRecord?
        public var serviceName: String?
        public var environmentName: String?
        public var message: String
    }

    /// The project's repository, created on first use.
    public func gitRepository(projectID: String) async throws -> GitRepository {
        let repository = GitRepository(dataDirectory: configuration.dataDirectory, projectID: projectID)
        try await repository.prepare(platformExecutable: configuration.platformExecutable)
        return repository
    }

    /// Deploys the services linked to each pushed branch (in every environment of the
    /// project), from the pushed commit, unless none of the paths the push changed match a
    /// service's watch patterns: that service gets a SKIPPED deployment with the reason.
    public func deployPush(projectID: String, updates: [GitRefUpdate]) async throws -> [PushOutcome] {
        for update in updates { try update.validate() }
        let repository = try await gitRepository(projectID: projectID)
        var outcomes: [PushOutcome] = []
        for update in updates {
            guard let branch = update.branch else {
                outcomes.append(PushOutcome(message: "\(update.ref) is not a branch: nothing to deploy"))
                continue
            }
            guard !GitRefUpdate.isZero(update.new) else {
                outcomes.append(PushOutcome(message: "branch \(branch) was deleted: nothing to deploy"))
                continue
            }
            let links = try store.branchLinks(projectID: projectID, branch: branch)
            guard !links.isEmpty else {
                outcomes.append(
                    PushOutcome(
                        message: "no service is linked to branch \(branch): nothing deployed "
                            + "(link one with `yard service link --branch \(branch)`)"))
                continue
            }
            outcomes += try await deployBranch(repository: repository, update: update, branch: branch, links: links, trigger: "git push")
        }
        return outcomes
    }

    func deployBranch(
        repository: GitRepository, update: GitRefUpdate, branch: String, links: [ServiceBranchRecord], trigger: String
    ) async throws -> [PushOutcome] {
        let commit = try await repository.commit(update.new, branch: branch)
        let old = GitRefUpdate.isZero(update.old) ? nil : update.old
        let changed = try await repository.changedPaths(from: old, to: update.new)
        let scratch = try temporaryFile("push")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let archive = scratch.appendingPathComponent("source.tar.gz")
        let tree = scratch.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try await repository.archive(update.new, to: archive)
        try SourceArchive.extract(archive, into: tree, limits: configuration.sourceLimits)

        var outcomes: [PushOutcome] = []
        for link in links {
            let service = try store.service(id: link.serviceID)
            let environment = try store.environment(id: link.environmentID)
            let patterns = watchPatterns(of: service, environment: environment, tree: tree)
            let watch = WatchPatterns(patterns)
            if watch.matchesAny(of: changed) {
                let copy = try temporaryFile("push", suffix: ".tar.gz")
                try FileManager.default.copyItem(at: archive, to: copy)
                let deployment = try deploy(
                    serviceID: service.id, environmentID: environment.id, archive: copy,
                    trigger: trigger, commit: commit)
                let why = watch.isEmpty ? "" : " (a changed path matches its watch patterns)"
                outcomes.append(
                    PushOutcome(
                        deployment: deployment, serviceName: service.name, environmentName: environment.name,
                        message: "deploying \(service.name) in \(environment.name) from \(commit.sha.prefix(7))\(why)"))
            } else {
                let reason =
                    "no changed path matches its watch patterns (\(patterns.joined(separator: ", "))): "
                    + "\(changed.count) changed path\(changed.count == 1 ? "" : "s"), e.g. \(changed.prefix(3).joined(separator: ", "))"
                let deployment = try skippedDeployment(
                    service: service, environment: environment, commit: commit, reason: reason, trigger: trigger)
                outcomes.append(
                    PushOutcome(
                        deployment: deployment, serviceName: service.name, environmentName: environment.name,
                        message: "skipped \(service.name) in \(environment.name): \(reason)"))
            }
        }
        return outcomes
    }

    /// The service's `watchPatterns` as its config file in the pushed tree sets them for
    /// the environment. A config that does not load gives none: the deployment then fails
    /// with the config's error, which is more use than a silent skip.
    private func watchPatterns(of service: ServiceRecord, environment: EnvironmentRecord, tree: URL) -> [String] {
        do {
            let records = try store.variables(serviceID: service.id, environmentID: environment.id)
            let variables = Dictionary(records.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            let (railpack, root) = try railpackConfig(source: tree, service: service, variables: variables)
            let context = root.map { tree.appendingPathComponent($0) } ?? tree
            let config = try ConfigLoader.load(
                directory: context,
                configPath: service.configPath,
                environment: environment.name,
                isPullRequestEnvironment: PullRequestEnvironmentRequest.isPullRequestEnvironment(environment.name),
                serviceBuild: service.buildOverrides,
                serviceDeploy: service.deployOverrides,
                railpackDeploy: railpack?.deploy
            )
            return config.build.watchPatterns
        } catch {
            return []
        }
    }

    /// A deployment that never runs: recorded SKIPPED with the reason at once.
    private func skippedDeployment(
        service: ServiceRecord, environment: EnvironmentRecord, commit: GitCommit, reason: String, trigger: String
    ) throws -> DeploymentRecord {
        let now = Date()
        var record = DeploymentRecord(
            id: Identifier.make("dep"), serviceID: service.id, environmentID: environment.id, status: .skipped, reason: reason,
            trigger: trigger, sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil,
            deploySettings: nil, variables: nil, createdAt: now, updatedAt: now
        )
        record.gitCommit = commit
        try store.insertDeployment(record)
        logs.append(deploymentID: record.id, kind: .deploy, stream: .system, message: "status → SKIPPED: \(reason)")
        logs.close(deploymentID: record.id, kind: .build)
        logs.close(deploymentID: record.id, kind: .deploy)
        statuses.publish(deploymentID: record.id, status: .skipped)
        return record
    }
}
