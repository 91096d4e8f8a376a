import Foundation
import YardCore
import YardStore

extension Orchestrator {
    /// What opening, updating or closing a pull request's environment did.
    public struct PullRequestOutcome: Sendable {
        public var environment: EnvironmentRecord?
        public var created: Bool
        public var deployments: [DeploymentRecord]
        public var message: String
    }

    /// Opens PR environment `pr-<number>` (or, when it exists, redeploys it) from the PR's
    /// head commit: a copy of the base environment (the one whose services follow
    /// `baseBranch`, else production) whose git-linked services follow `branch` and deploy
    /// from the commit. `environments.pr` of the config applies there; each service gets
    /// its own generated domain (`<service>-<project>-pr-<n>`).
    public func openPullRequestEnvironment(
        projectID: String, number: Int, branch: String, baseBranch: String?, sha: String?
    ) async throws -> PullRequestOutcome {
        guard number > 0 else { throw YardError(.invalidInput, "pull request number \(number) is not a positive integer") }
        try ServiceBranchLink.validate(branch)
        if let baseBranch { try ServiceBranchLink.validate(baseBranch) }
        let repository = try await gitRepository(projectID: projectID)
        // The repository must hold what to deploy: a webhook carries no objects. Checked
        // before anything is created, so a refusal leaves nothing behind.
        let push = "`git push <yard git remote> \(branch)` (`yard git remote` prints the URL)"
        let branchHead = await repository.branchHead(branch)
        let head: String
        if let sha {
            guard let full = await repository.resolveCommit(sha) else {
                guard let branchHead else {
                    throw YardError(
                        .notFound,
                        "branch \(branch) of pull request #\(number) is not in the project's repository: nothing was created; "
                            + "push it there first: \(push)")
                }
                throw YardError(
                    .notFound,
                    "commit \(sha.prefix(12)) of pull request #\(number) is not in the project's repository (its branch \(branch) "
                        + "is at \(branchHead.prefix(12)) there): nothing was created or deployed; push the branch again first: \(push)")
            }
            head = full
        } else {
            guard let branchHead else {
                throw YardError(
                    .notFound,
                    "branch \(branch) is not in the project's repository: nothing was created; push it there first: \(push)")
            }
            head = branchHead
        }
        let name = PullRequestEnvironmentRequest.environmentName(number: number)
        let environments = try store.environments(projectID: projectID)
        var created = false
        var copyNotes: [String] = []
        let environment: EnvironmentRecord
        if let existing = environments.first(where: { $0.name == name }) {
            environment = existing
        } else {
            let base = try baseEnvironment(projectID: projectID, baseBranch: baseBranch, among: environments)
            let copy = try store.createEnvironment(projectID: projectID, name: name, copying: base.id)
            environment = copy.environment
            created = true
            copyNotes = Self.copyNotes(copy)
            // The services that follow a branch in the base environment follow the PR's
            // branch here (so a push to it redeploys); with none linked, every app service.
            let services = try store.services(projectID: projectID)
            let linked = Set(
                services.compactMap { service in
                    (try? store.linkedBranch(serviceID: service.id, environmentID: base.id)) != nil ? service.id : nil
                })
            for service in services where service.database == nil && (linked.isEmpty || linked.contains(service.id)) {
                try store.linkBranch(serviceID: service.id, environmentID: environment.id, branch: branch)
            }
            logger.info(
                "pull request environment created",
                metadata: [
                    "environment.name": "\(name)", "environment.base": "\(base.name)", "git.branch": "\(branch)",
                    "environment.new_credentials": "\(copy.services.filter { !$0.newCredentials.isEmpty }.map(\.serviceName))",
                    "environment.sealed_not_copied": "\(copy.services.filter { !$0.sealedNotCopied.isEmpty }.map(\.serviceName))",
                ])
        }
        var deployments: [DeploymentRecord] = []
        if created {
            // Its databases start empty, as in any copied environment.
            for service in try store.services(projectID: projectID) where service.database != nil {
                deployments.append(try redeploy(serviceID: service.id, environmentID: environment.id))
            }
        }
        let notes = copyNotes.isEmpty ? "" : " (\(copyNotes.joined(separator: "; ")))"
        let links = try store.branchLinks(projectID: projectID, branch: branch).filter { $0.environmentID == environment.id }
        guard !links.isEmpty else {
            let subject = created ? "created environment \(name)\(notes); it" : "environment \(name)"
            return PullRequestOutcome(
                environment: environment, created: created, deployments: deployments,
                message: "\(subject) has no service linked to branch \(branch): nothing deployed "
                    + "(`yard service link --branch \(branch) --environment \(name)`)")
        }
        let update = GitRefUpdate(ref: "refs/heads/\(branch)", old: String(repeating: "0", count: 40), new: head)
        let outcomes = try await deployBranch(
            repository: repository, update: update, branch: branch, links: links, trigger: "pull request #\(number)")
        deployments += outcomes.compactMap(\.deployment)
        let verb = created ? "created environment \(name)\(notes)" : "environment \(name) exists"
        return PullRequestOutcome(
            environment: environment, created: created, deployments: deployments,
            message: "\(verb); deploying \(outcomes.compactMap(\.serviceName).joined(separator: ", ")) from \(branch) at \(head.prefix(7))")
    }

    /// Deletes PR environment `pr-<number>` with every process, network and volume in it.
    public func closePullRequestEnvironment(projectID: String, number: Int) async throws -> PullRequestOutcome {
        let name = PullRequestEnvironmentRequest.environmentName(number: number)
        guard let environment = try store.environments(projectID: projectID).first(where: { $0.name == name }) else {
            return PullRequestOutcome(
                environment: nil, created: false, deployments: [], message: "no environment \(name): nothing to delete")
        }
        let (removal, stopped) = try await deleteEnvironment(environmentID: environment.id)
        return PullRequestOutcome(
            environment: environment, created: false, deployments: [],
            message: "deleted environment \(name): \(stopped) deployment\(stopped == 1 ? "" : "s") stopped, "
                + "\(removal.volumeIDs.count) volume\(removal.volumeIDs.count == 1 ? "" : "s") and "
                + "\(removal.backups.count) backup\(removal.backups.count == 1 ? "" : "s") removed")
    }

    /// A `push` webhook: deploys like a `git push` of that commit, which must already be in
    /// the project's repository (the webhook carries no objects).
    public func deployPushEvent(projectID: String, update: GitRefUpdate) async throws -> [PushOutcome] {
        try update.validate()
        let repository = try await gitRepository(projectID: projectID)
        var update = update
        if !GitRefUpdate.isZero(update.new) {
            guard await repository.hasCommit(update.new) else {
                throw YardError(
                    .notFound,
                    "commit \(update.new.prefix(12)) pushed to \(update.ref) is not in the project's repository: "
                        + "nothing deployed; push it to the repository yard serves (`yard git remote` prints its URL)")
            }
        }
        // An earlier commit the repository never saw: compare against nothing (every path changed).
        if !GitRefUpdate.isZero(update.old), await !repository.hasCommit(update.old) {
            update.old = String(repeating: "0", count: 40)
        }
        return try await deployPush(projectID: projectID, updates: [update])
    }

    /// What a new PR environment's creation says about sealed values: the databases that got
    /// new credentials, and the sealed variables (keys only) that were not copied.
    static func copyNotes(_ copy: EnvironmentCopy) -> [String] {
        copy.services.compactMap { service in
            var notes: [String] = []
            if !service.newCredentials.isEmpty { notes.append("new credentials (sealed)") }
            if !service.sealedNotCopied.isEmpty {
                notes.append("sealed variables not copied, set them again: \(service.sealedNotCopied.joined(separator: ", "))")
            }
            return notes.isEmpty ? nil : "\(service.serviceName): \(notes.joined(separator: ", "))"
        }
    }

    private func baseEnvironment(projectID: String, baseBranch: String?, among environments: [EnvironmentRecord]) throws
        -> EnvironmentRecord
    {
        if let baseBranch {
            let following = Set(try store.branchLinks(projectID: projectID, branch: baseBranch).map(\.environmentID))
            let candidates = environments.filter {
                following.contains($0.id) && !PullRequestEnvironmentRequest.isPullRequestEnvironment($0.name)
            }
            if let chosen = candidates.first(where: { $0.name == "production" }) ?? candidates.first { return chosen }
        }
        guard let production = environments.first(where: { $0.name == "production" }) ?? environments.first else {
            throw YardError(.notFound, "the project has no environment to copy")
        }
        return production
    }
}
