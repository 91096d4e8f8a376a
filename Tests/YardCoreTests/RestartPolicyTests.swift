import Testing
import YardCore

@Suite("restart policy")
struct RestartPolicyTests {
    @Test("ON_FAILURE restarts failures with doubling backoff until retries run out")
    func onFailure() {
        var policy = RestartPolicy(type: .onFailure, maxRetries: 3, baseBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        #expect(policy.processExited(.exited(code: 1), uptime: .seconds(1)) == .restart(after: .milliseconds(100), attempt: 1))
        #expect(policy.processExited(.signaled(signal: 9), uptime: .seconds(1)) == .restart(after: .milliseconds(200), attempt: 2))
        #expect(policy.processExited(.exited(code: 2), uptime: .seconds(1)) == .restart(after: .milliseconds(400), attempt: 3))
        #expect(policy.processExited(.exited(code: 2), uptime: .seconds(1)) == .giveUp(attempts: 3))
    }

    @Test("ON_FAILURE does not restart a clean exit")
    func onFailureCleanExit() {
        var policy = RestartPolicy(type: .onFailure, maxRetries: 3)
        #expect(policy.processExited(.exited(code: 0), uptime: .seconds(1)) == .stop)
    }

    @Test("ALWAYS restarts a clean exit too")
    func always() {
        var policy = RestartPolicy(type: .always, maxRetries: 1, baseBackoff: .milliseconds(10))
        #expect(policy.processExited(.exited(code: 0), uptime: .seconds(1)) == .restart(after: .milliseconds(10), attempt: 1))
        #expect(policy.processExited(.exited(code: 0), uptime: .seconds(1)) == .giveUp(attempts: 1))
    }

    @Test("NEVER restarts nothing; a failure is a crash")
    func never() {
        var policy = RestartPolicy(type: .never, maxRetries: 10)
        #expect(policy.processExited(.exited(code: 1), uptime: .seconds(1)) == .giveUp(attempts: 0))
        var clean = RestartPolicy(type: .never, maxRetries: 10)
        #expect(clean.processExited(.exited(code: 0), uptime: .seconds(1)) == .stop)
    }

    @Test("a long healthy run resets the retry count")
    func resetAfterUptime() {
        var policy = RestartPolicy(type: .onFailure, maxRetries: 1, baseBackoff: .milliseconds(10), resetAfter: .seconds(60))
        #expect(policy.processExited(.exited(code: 1), uptime: .seconds(1)) == .restart(after: .milliseconds(10), attempt: 1))
        #expect(policy.processExited(.exited(code: 1), uptime: .seconds(120)) == .restart(after: .milliseconds(10), attempt: 1))
        #expect(policy.processExited(.exited(code: 1), uptime: .seconds(1)) == .giveUp(attempts: 1))
    }

    @Test("backoff is capped")
    func backoffCap() {
        let policy = RestartPolicy(type: .onFailure, maxRetries: 50, baseBackoff: .seconds(1), maxBackoff: .seconds(30))
        #expect(policy.backoff(forAttempt: 1) == .seconds(1))
        #expect(policy.backoff(forAttempt: 5) == .seconds(16))
        #expect(policy.backoff(forAttempt: 6) == .seconds(30))
        #expect(policy.backoff(forAttempt: 40) == .seconds(30))
    }
}

@Suite("deployment status machine")
struct DeploymentStatusTests {
    @Test("the normal path is allowed")
    func happyPath() throws {
        var status = DeploymentStatus.queued
        for next in [DeploymentStatus.initializing, .building, .deploying, .success, .removing, .removed] {
            status = try status.transition(to: next)
        }
        #expect(status == .removed)
    }

    @Test("illegal transitions throw with both statuses named")
    func illegal() {
        #expect(throws: YardError.self) { try DeploymentStatus.removed.transition(to: .success) }
        do {
            _ = try DeploymentStatus.failed.transition(to: .deploying)
            Issue.record("FAILED → DEPLOYING must be refused")
        } catch {
            #expect(error.message.contains("FAILED") && error.message.contains("DEPLOYING"))
        }
    }

    @Test("a run-to-completion deployment: COMPLETED from DEPLOYING or SUCCESS, then replaced or restarted")
    func completed() throws {
        #expect(try DeploymentStatus.deploying.transition(to: .completed) == .completed)
        #expect(try DeploymentStatus.success.transition(to: .completed) == .completed)
        #expect(try DeploymentStatus.completed.transition(to: .removing) == .removing)
        #expect(try DeploymentStatus.completed.transition(to: .deploying) == .deploying)
        #expect(!DeploymentStatus.completed.isFinal && !DeploymentStatus.completed.isInProgress)
        #expect(throws: YardError.self) { try DeploymentStatus.completed.transition(to: .crashed) }
        #expect(throws: YardError.self) { try DeploymentStatus.building.transition(to: .completed) }
    }

    @Test("final statuses allow nothing")
    func finals() {
        for status in DeploymentStatus.allCases where status.isFinal {
            #expect(status.allowedNext.isEmpty)
        }
    }
}

@Suite("names and overrides")
struct SettingsTests {
    @Test("resource names are validated and slugged")
    func names() throws {
        try ResourceName.validate("my-app-2", kind: "service")
        #expect(throws: YardError.self) { try ResourceName.validate("My_App", kind: "service") }
        try ResourceName.validateService("Postgres")
        #expect(throws: YardError.self) { try ResourceName.validateService("My_App") }
        #expect(throws: YardError.self) { try ResourceName.validateService("-Redis") }
        #expect(throws: YardError.self) { try ResourceName.validate("-x", kind: "project") }
        #expect(ResourceName.slug("My_App 2") == "my-app-2")
        #expect(ResourceName.slug("___") == "app")
    }

    @Test("override layers apply only what they set; null clears")
    func overrides() {
        var deploy = DeploySettings()
        deploy.startCommand = "old"
        var layer = DeployOverrides()
        layer.numReplicas = 3
        layer.apply(to: &deploy)
        #expect(deploy.numReplicas == 3 && deploy.startCommand == "old")
        var clearing = DeployOverrides()
        clearing.startCommand = .some(nil)
        clearing.apply(to: &deploy)
        #expect(deploy.startCommand == nil)
        var regions = DeployOverrides()
        regions.multiRegionConfig = ["us-west": 2, "eu-west": 1]
        regions.apply(to: &deploy)
        #expect(deploy.numReplicas == 3)
    }

    @Test("content hashes are SHA-256")
    func hashing() {
        #expect(ContentHash.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentHash.randomToken(bytes: 16).count == 32)
    }
}
