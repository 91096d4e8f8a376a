import Foundation
import Logging
import Testing
import YardCore
import YardRuntime
import YardStore
import YardTestSupport

@testable import YardControl

/// A metrics source whose answers the test sets.
final class ScriptedMetrics: AlertMetricsSource, @unchecked Sendable {
    private let lock = NSLock()
    private var summary: RequestSummary?
    private var memory: Double?

    func set(summary: RequestSummary?, memory: Double? = nil) {
        lock.withLock {
            self.summary = summary
            self.memory = memory
        }
    }

    func requestSummary(serviceID: String, environmentID: String, over window: Duration) async -> RequestSummary? {
        lock.withLock { summary }
    }
    func memoryFraction(serviceID: String, environmentID: String, over window: Duration) async -> Double? { lock.withLock { memory } }
    func volumeFraction(serviceID: String, environmentID: String) async -> Double? { nil }
}

/// The alert engine with a real store and real receivers: python's http.server for the
/// signed webhook, aiosmtpd for the email; metrics scripted (the collector is metrics20's).
@Suite("Alert engine", .serialized)
struct AlertEngineTests {
    struct Fixture {
        let temporary: TemporaryStore
        let receivers: AlertReceivers
        let metrics = ScriptedMetrics()
        let engine: AlertEngine
        let serviceID: String
        let environmentID: String
        let projectID: String
        let webhookSecret: String

        init() async throws {
            temporary = try TemporaryStore()
            receivers = try await AlertReceivers()
            let store = temporary.store
            let (project, production) = try store.createProject(name: "shop")
            let web = try store.createService(projectID: project.id, name: "web")
            projectID = project.id
            serviceID = web.id
            environmentID = production.id
            webhookSecret = ContentHash.randomToken()
            try store.createAlertChannel(
                AlertChannelRecord(
                    id: "alc_hook", projectID: project.id, name: "hook", kind: .webhook, target: receivers.webhookURL, secret: webhookSecret))
            try store.createAlertChannel(
                AlertChannelRecord(id: "alc_mail", projectID: project.id, name: "mail", kind: .email, target: "ops@example.com", secret: nil))
            var configuration = AlertEngine.Configuration(
                mail: AlertMailConfiguration(host: "127.0.0.1", port: receivers.smtpPort, from: "yard@example.com"), metrics: metrics)
            configuration.backoff = .milliseconds(50)
            engine = AlertEngine(configuration: configuration, store: store, logger: Logger(label: "alerts-test"))
        }

        func addRule(_ kind: AlertKind, channel: String, above: AlertThreshold? = nil, over: Int = 60) throws -> String {
            let id = Identifier.make("alr")
            try temporary.store.createAlertRule(
                AlertRuleRecord(
                    id: id, projectID: projectID, serviceID: serviceID, environmentID: environmentID, channelID: channel, kind: kind,
                    threshold: above, overSeconds: over, repeatSeconds: 3600))
            return id
        }

        func state(_ id: String) throws -> AlertState? { try temporary.store.alertRule(id: id)?.state }

        func event(_ name: String) -> Notifier.Event {
            Notifier.Event(event: name, environmentID: environmentID, serviceID: serviceID, serviceName: "web", deploymentID: "dep_1", message: name)
        }

        func remove() {
            receivers.stop()
            temporary.remove()
        }
    }

    @Test func anErrorRateAboveItsThresholdFiresToASignedWebhookAndAnEmailThenResolves() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let hookRule = try fixture.addRule(.errorRate, channel: "alc_hook", above: .init(value: 20, unit: .percent))
        let mailRule = try fixture.addRule(.errorRate, channel: "alc_mail", above: .init(value: 20, unit: .percent))

        // No sample yet: unknown, nothing sent.
        await fixture.engine.evaluate()
        #expect(try fixture.state(hookRule) == .pending)

        fixture.metrics.set(summary: RequestSummary(requests: 200, serverErrors: 100, p95Milliseconds: 12))
        await fixture.engine.evaluate()
        await fixture.engine.evaluate()  // still firing: no second notification
        await fixture.engine.settle()
        #expect(try fixture.state(hookRule) == .firing)
        #expect(try fixture.state(mailRule) == .firing)
        let fired = fixture.receivers.deliveries()
        try #require(fired.count == 1, "\(fired.count) webhook deliveries")
        let delivery = fired[0]
        #expect(
            AlertWebhookSignature.isValid(
                signature: delivery.header(AlertWebhookSignature.signatureHeader), timestamp: delivery.header(AlertWebhookSignature.timestampHeader),
                body: delivery.bodyData, secret: fixture.webhookSecret))
        let payload = try #require(try JSONSerialization.jsonObject(with: delivery.bodyData) as? [String: Any])
        #expect(payload["type"] as? String == "Alert.triggered")
        #expect(((payload["resource"] as? [String: Any])?["service"] as? [String: Any])?["name"] as? String == "web")
        #expect(((payload["details"] as? [String: Any])?["message"] as? String)?.contains("50.0%") == true)
        #expect(await fixture.receivers.wait { fixture.receivers.mails().count == 1 })
        let mail = try #require(fixture.receivers.mails().first)
        #expect(mail.contains("Subject: [switchyard] FIRING: web's error rate is above 20%"))
        #expect(mail.contains("To: ops@example.com"))

        // Fixed: both get the resolution, once.
        fixture.metrics.set(summary: RequestSummary(requests: 200, serverErrors: 0, p95Milliseconds: 12))
        await fixture.engine.evaluate()
        await fixture.engine.evaluate()
        await fixture.engine.settle()
        #expect(try fixture.state(hookRule) == .resolved)
        let all = fixture.receivers.deliveries()
        #expect(all.count == 2)
        let resolution = try #require(try JSONSerialization.jsonObject(with: all.last?.bodyData ?? Data()) as? [String: Any])
        #expect(resolution["type"] as? String == "Alert.resolved")
        #expect(await fixture.receivers.wait { fixture.receivers.mails().count == 2 })
        #expect(fixture.receivers.mails().contains { $0.contains("Subject: [switchyard] RESOLVED:") })
    }

    @Test func aCrashLoopRaisesOneAlertNotOnePerRestart() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let rule = try fixture.addRule(.crashLoop, channel: "alc_hook", over: 300)
        for _ in 0..<6 {
            await fixture.engine.handle(fixture.event("replica.restart-loop"))
            await fixture.engine.evaluate()
        }
        await fixture.engine.settle()
        #expect(try fixture.state(rule) == .firing)
        #expect(fixture.receivers.deliveries().count == 1)
        // A deployment that went live ends it.
        await fixture.engine.handle(fixture.event("deployment.success"))
        await fixture.engine.settle()
        #expect(try fixture.state(rule) == .resolved)
        #expect(fixture.receivers.deliveries().count == 2)
    }

    @Test func submittedEventsAreHandledInTheOrderTheyWereSent() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let rule = try fixture.addRule(.crashLoop, channel: "alc_hook", over: 300)
        let running = Task { await fixture.engine.run() }
        defer { running.cancel() }
        for _ in 0..<3 { fixture.engine.submit(fixture.event("replica.restart-loop")) }
        fixture.engine.submit(fixture.event("deployment.success"))
        #expect(await fixture.receivers.wait { fixture.receivers.deliveries().count == 2 })
        let types = try fixture.receivers.deliveries().map {
            try #require(try JSONSerialization.jsonObject(with: $0.bodyData) as? [String: Any])["type"] as? String
        }
        #expect(types == ["Alert.triggered", "Alert.resolved"])
        #expect(try fixture.state(rule) == .resolved)
    }

    @Test func aBackupFailureResolvesWhenABackupPassesItsCheck() async throws {
        let fixture = try await Fixture()
        defer { fixture.remove() }
        let rule = try fixture.addRule(.backupFailed, channel: "alc_hook", over: 86_400)
        await fixture.engine.handle(fixture.event("backup.check-failed"))
        await fixture.engine.handle(fixture.event("backup.failed"))
        #expect(try fixture.state(rule) == .firing)
        await fixture.engine.handle(fixture.event("backup.succeeded"))
        await fixture.engine.settle()
        #expect(try fixture.state(rule) == .resolved)
        #expect(fixture.receivers.deliveries().count == 2)
    }

    @Test func metricRulesStayPendingWithoutAMetricsSource() async throws {
        let temporary = try TemporaryStore()
        defer { temporary.remove() }
        let (project, production) = try temporary.store.createProject(name: "shop")
        let web = try temporary.store.createService(projectID: project.id, name: "web")
        try temporary.store.createAlertChannel(
            AlertChannelRecord(id: "alc_x", projectID: project.id, name: "x", kind: .slack, target: "http://127.0.0.1:9/x", secret: nil))
        try temporary.store.createAlertRule(
            AlertRuleRecord(
                id: "alr_1", projectID: project.id, serviceID: web.id, environmentID: production.id, channelID: "alc_x", kind: .memory,
                threshold: .init(value: 90, unit: .percent), overSeconds: 300, repeatSeconds: 3600))
        let engine = AlertEngine(configuration: .init(), store: temporary.store, logger: Logger(label: "alerts-test"))
        await engine.evaluate()
        #expect(try temporary.store.alertRule(id: "alr_1")?.state == .pending)
    }

    @Test func aDeliveryThatKeepsFailingIsRetriedThenCountedWithoutBlockingTheCaller() async throws {
        let temporary = try TemporaryStore()
        defer { temporary.remove() }
        let (project, production) = try temporary.store.createProject(name: "shop")
        let web = try temporary.store.createService(projectID: project.id, name: "web")
        // A closed port: every attempt is refused.
        let port = try PortAllocator.freePort()
        try temporary.store.createAlertChannel(
            AlertChannelRecord(
                id: "alc_dead", projectID: project.id, name: "dead", kind: .discord, target: "http://127.0.0.1:\(port)/x", secret: nil))
        try temporary.store.createAlertRule(
            AlertRuleRecord(
                id: "alr_1", projectID: project.id, serviceID: web.id, environmentID: production.id, channelID: "alc_dead",
                kind: .deploymentFailed, threshold: nil, overSeconds: 300, repeatSeconds: 3600))
        var configuration = AlertEngine.Configuration()
        configuration.attempts = 3
        configuration.backoff = .milliseconds(20)
        let engine = AlertEngine(configuration: configuration, store: temporary.store, logger: Logger(label: "alerts-test"))
        let started = ContinuousClock.now
        await engine.handle(
            Notifier.Event(event: "deployment.failed", environmentID: production.id, serviceID: web.id, message: "build failed"))
        #expect(ContinuousClock.now - started < .seconds(1), "handle() returned before the deliveries")
        await engine.settle()
        #expect(await engine.failedDeliveries["alc_dead"] == 1)
    }

    @Test func emailGoesOverSTARTTLSWithAuthAndAWrongPasswordIsRefused() async throws {
        let server = try await TLSMailServer()
        defer { server.stop() }
        var mail = AlertMailConfiguration(
            host: "localhost", port: server.port, username: "yard", password: "pw", from: "yard@example.com",
            trustedCertificateFile: server.certificateFile)
        let started = ContinuousClock.now
        try await AlertSMTPClient.send(mail, to: "ops@example.com", subject: "over TLS", body: "first line\n.dotted line")
        let received = try #require(server.mails().first)
        #expect(received.contains("Subject: over TLS"))
        #expect(received.contains("\n.dotted line"), "dot-stuffing undone by the server: \(received)")
        mail.password = "wrong"
        await #expect(throws: YardError.self) {
            try await AlertSMTPClient.send(mail, to: "ops@example.com", subject: "refused", body: "x")
        }
        #expect(ContinuousClock.now - started < .seconds(10), "the refusal is read, not waited out")
        #expect(server.mails().count == 1)
    }
}
