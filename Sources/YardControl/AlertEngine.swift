import Foundation
import Logging
import YardCore
import YardStore

/// Runs alert rules: event rules are fed the Notifier's events, metric rules are evaluated
/// every `interval` against the `AlertMetricsSource` (none: they stay `pending`). Each
/// transition (`AlertRuleMachine`) is saved, then its notification is delivered off the
/// caller's path, retried with backoff; failures are logged and counted per channel.
public actor AlertEngine {
    public struct Configuration: Sendable {
        public var mail: AlertMailConfiguration?
        public var metrics: (any AlertMetricsSource)?
        /// The cluster's nodes for `node-down` rules (none: they stay `pending`).
        public var nodes: (any ClusterNodeSource)?
        public var interval: Duration = .seconds(5)
        /// Attempts per delivery, and the first wait between them (doubling).
        public var attempts = 4
        public var backoff: Duration = .seconds(1)

        public init(mail: AlertMailConfiguration? = nil, metrics: (any AlertMetricsSource)? = nil) {
            self.mail = mail
            self.metrics = metrics
        }
    }

    public nonisolated let configuration: Configuration
    private let store: SQLiteStore
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// Deliveries that failed after every attempt, per channel id, since the start.
    public private(set) var failedDeliveries: [String: Int] = [:]
    /// Deliveries under way (tests wait for them).
    private var inFlight: [UUID: Task<Void, Never>] = [:]
    /// The last delivery started per channel: the next one waits for it, so a channel hears
    /// a rule fire before it hears it resolve.
    private var lastDelivery: [String: Task<Void, Never>] = [:]
    /// Events from `submit`, handled in the order they were sent by `run()`.
    private nonisolated let events: AsyncStream<Notifier.Event>
    private nonisolated let eventInput: AsyncStream<Notifier.Event>.Continuation

    public init(configuration: Configuration, store: SQLiteStore, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.now = now
        (events, eventInput) = AsyncStream.makeStream(of: Notifier.Event.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Queues an event for `run()` without waiting; events are handled in this order (a
    /// restart loop, then the deployment that ends it).
    public nonisolated func submit(_ event: Notifier.Event) {
        eventInput.yield(event)
    }

    /// Handles submitted events in order, and evaluates every `interval`, until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in self.events { await self.handle(event) }
            }
            while !Task.isCancelled {
                await evaluate()
                try? await Task.sleep(for: configuration.interval)
            }
            eventInput.finish()
        }
    }

    /// One pass over every rule: metric rules ask the source, event rules check whether their
    /// last event is older than their window (and repeat while firing).
    public func evaluate() async {
        guard let rules = try? store.alertRules() else { return }
        for rule in rules {
            let (holds, detail) = await observe(rule)
            apply(holds, detail: detail, to: rule, event: nil)
        }
    }

    /// An event the Notifier sends: triggers or resolves the event rules of its service.
    public func handle(_ event: Notifier.Event) {
        guard let serviceID = event.serviceID, let rules = try? store.alertRules() else { return }
        for var rule in rules where rule.serviceID == serviceID && rule.kind.isEventDriven {
            if let environmentID = event.environmentID, environmentID != rule.environmentID { continue }
            var condition = AlertEventCondition(lastTriggerAt: rule.lastEventAt, quiet: TimeInterval(rule.overSeconds))
            if rule.kind.triggeringEvents.contains(event.event) {
                condition.trigger(at: now())
            } else if rule.kind.resolvingEvents.contains(event.event) {
                condition.resolve()
            } else {
                continue
            }
            rule.lastEventAt = condition.lastTriggerAt
            apply(condition.holds(at: now()), detail: event.message, to: rule, event: event)
        }
    }

    /// Sends a test message to a channel and waits for the outcome (one attempt).
    public func test(channel: AlertChannelRecord) async -> AlertTestResultView {
        var message = AlertMessage(
            type: "Alert.test", severity: "INFO", title: "Test alert from Switchyard",
            text: "If you read this, alerts reach channel \(channel.name).", at: now())
        message.projectID = channel.projectID
        message.projectName = try? store.project(channel.projectID).name
        do {
            try await AlertDelivery.send(message, to: channel, mail: configuration.mail)
            return AlertTestResultView(delivered: true, message: "delivered to \(channel.name) (\(AlertDelivery.shownTarget(channel)))")
        } catch {
            return AlertTestResultView(delivered: false, message: "not delivered to \(channel.name): \(error)")
        }
    }

    /// Waits until every delivery started so far has finished (for tests and shutdown).
    public func settle() async {
        while let task = inFlight.values.first {
            await task.value
        }
    }

    /// The view of a rule, with names.
    public static func view(_ rule: AlertRuleRecord, store: SQLiteStore) -> AlertRuleView {
        AlertRuleView(
            id: rule.id, kind: rule.kind, service: (try? store.service(id: rule.serviceID).name) ?? rule.serviceID,
            environment: (try? store.environment(id: rule.environmentID).name) ?? rule.environmentID,
            channel: ((try? store.alertChannel(id: rule.channelID)) ?? nil)?.name ?? rule.channelID,
            above: rule.threshold?.description, overSeconds: rule.overSeconds, repeatSeconds: rule.repeatSeconds, state: rule.state,
            firedAt: rule.firedAt, resolvedAt: rule.resolvedAt, detail: rule.detail)
    }

    public static func view(_ channel: AlertChannelRecord, failures: Int, revealingSecret: Bool = false) -> AlertChannelView {
        AlertChannelView(
            id: channel.id, name: channel.name, kind: channel.kind, target: AlertDelivery.shownTarget(channel),
            secret: revealingSecret ? channel.secret : nil, failedDeliveries: failures)
    }

    // MARK: Internals

    /// Whether a rule's condition holds now (nil: unknown), with words for people.
    private func observe(_ rule: AlertRuleRecord) async -> (Bool?, String?) {
        if rule.kind.isEventDriven {
            let condition = AlertEventCondition(lastTriggerAt: rule.lastEventAt, quiet: TimeInterval(rule.overSeconds))
            return (condition.holds(at: now()), nil)
        }
        if rule.kind == .nodeDown { return await ClusterNodeCheck.evaluate(configuration.nodes) }
        return await Self.evaluateMetric(rule, source: configuration.metrics)
    }

    /// A metric rule's condition against `source`: nil (unknown) without a source or sample.
    public static func evaluateMetric(_ rule: AlertRuleRecord, source: (any AlertMetricsSource)?) async -> (Bool?, String?) {
        guard let source, let threshold = rule.threshold else { return (nil, nil) }
        let window = Duration.seconds(rule.overSeconds)
        let over = AlertDurationText.text(rule.overSeconds)
        switch rule.kind {
        case .errorRate:
            guard let summary = await source.requestSummary(serviceID: rule.serviceID, environmentID: rule.environmentID, over: window),
                summary.requests > 0
            else { return (nil, nil) }
            let percent = summary.errorRate * 100
            return (
                percent > threshold.value,
                "error rate \(Self.format(percent))% (\(summary.serverErrors) of \(summary.requests) requests) over \(over), limit \(threshold)"
            )
        case .latency:
            guard let summary = await source.requestSummary(serviceID: rule.serviceID, environmentID: rule.environmentID, over: window),
                let p95 = summary.p95Milliseconds
            else { return (nil, nil) }
            return (p95 > threshold.value, "p95 latency \(Self.format(p95))ms over \(over), limit \(threshold)")
        case .memory:
            guard let fraction = await source.memoryFraction(serviceID: rule.serviceID, environmentID: rule.environmentID, over: window)
            else { return (nil, nil) }
            return (fraction * 100 > threshold.value, "memory at \(Self.format(fraction * 100))% of the limit for \(over), limit \(threshold)")
        case .volume:
            guard let fraction = await source.volumeFraction(serviceID: rule.serviceID, environmentID: rule.environmentID)
            else { return (nil, nil) }
            return (fraction * 100 > threshold.value, "volume \(Self.format(fraction * 100))% full, limit \(threshold)")
        default:
            return (nil, nil)
        }
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Feeds the machine, saves the state and sends what it says.
    private func apply(_ holds: Bool?, detail: String?, to rule: AlertRuleRecord, event: Notifier.Event?) {
        var rule = rule
        var machine = AlertRuleMachine(
            state: rule.state, repeatInterval: TimeInterval(rule.repeatSeconds), firedAt: rule.firedAt, notifiedAt: rule.notifiedAt,
            resolvedAt: rule.resolvedAt)
        let action = machine.observe(holds, at: now())
        let before = rule
        rule.state = machine.state
        rule.firedAt = machine.firedAt
        rule.notifiedAt = machine.notifiedAt
        rule.resolvedAt = machine.resolvedAt
        if let detail, holds == true || action != nil { rule.detail = detail }
        if rule != before {
            do { try store.saveAlertRuleState(rule) } catch {
                logger.warning("alert state not saved", metadata: ["alert.rule": "\(rule.id)", "error": "\(error)"])
            }
        }
        guard let action else { return }
        logger.info("alert", metadata: ["alert.rule": "\(rule.id)", "alert.kind": "\(rule.kind.rawValue)", "alert.action": "\(action.rawValue)"])
        deliver(message(for: rule, action: action, event: event), channelID: rule.channelID)
    }

    private func message(for rule: AlertRuleRecord, action: AlertRuleMachine.Action, event: Notifier.Event?) -> AlertMessage {
        let service = try? store.service(id: rule.serviceID)
        let environment = try? store.environment(id: rule.environmentID)
        let serviceName = service?.name ?? rule.serviceID
        let what: String
        switch rule.kind {
        case .deploymentFailed: what = "a deployment of \(serviceName) failed"
        case .crashed: what = "\(serviceName) crashed"
        case .oom: what = "\(serviceName) was OOM-killed"
        case .crashLoop: what = "\(serviceName) is in a restart loop"
        case .backupFailed: what = "a backup of \(serviceName) failed"
        case .errorRate: what = "\(serviceName)'s error rate is above \(rule.threshold?.description ?? "")"
        case .latency: what = "\(serviceName)'s p95 latency is above \(rule.threshold?.description ?? "")"
        case .memory: what = "\(serviceName)'s memory is above \(rule.threshold?.description ?? "") of its limit"
        case .volume: what = "\(serviceName)'s volume is above \(rule.threshold?.description ?? "") full"
        case .nodeDown: what = "a node of \(serviceName)'s cluster is down"
        }
        let title: String
        let type: String
        switch action {
        case .fire:
            title = "FIRING: \(what)"
            type = rule.kind == .deploymentFailed ? "Deployment.failed" : rule.kind == .crashed ? "Deployment.crashed" : "Alert.triggered"
        case .repeat:
            title = "STILL FIRING: \(what)"
            type = "Alert.repeated"
        case .resolve:
            title = "RESOLVED: \(what)"
            type = "Alert.resolved"
        }
        var message = AlertMessage(
            type: type, severity: action == .resolve ? "INFO" : "CRITICAL", title: title,
            text: rule.detail ?? what, at: now())
        message.projectID = rule.projectID
        message.projectName = try? store.project(rule.projectID).name
        message.environmentID = rule.environmentID
        message.environmentName = environment?.name
        message.serviceID = rule.serviceID
        message.serviceName = service?.name
        message.deploymentID = event?.deploymentID
        message.ruleID = rule.id
        message.kind = rule.kind.rawValue
        message.state = action == .resolve ? AlertState.resolved.rawValue : AlertState.firing.rawValue
        return message
    }

    /// Delivers in the background with retries; never blocks the caller.
    private func deliver(_ message: AlertMessage, channelID: String) {
        guard let channel = (try? store.alertChannel(id: channelID)) ?? nil else { return }
        let id = UUID()
        let (attempts, backoff, mail, logger) = (configuration.attempts, configuration.backoff, configuration.mail, self.logger)
        let previous = lastDelivery[channel.id]
        let task = Task.detached { [weak self] in
            await previous?.value
            var wait = backoff
            for attempt in 1...max(1, attempts) {
                do {
                    try await AlertDelivery.send(message, to: channel, mail: mail)
                    break
                } catch {
                    logger.warning(
                        "alert delivery failed",
                        metadata: ["alert.channel": "\(channel.name)", "attempt": "\(attempt)", "error": "\(error)"])
                    if attempt == attempts {
                        await self?.countFailure(channelID: channel.id)
                        break
                    }
                    try? await Task.sleep(for: wait)
                    wait *= 2
                }
            }
            await self?.finished(id)
        }
        inFlight[id] = task
        lastDelivery[channel.id] = task
    }

    private func countFailure(channelID: String) { failedDeliveries[channelID, default: 0] += 1 }
    private func finished(_ id: UUID) { inFlight[id] = nil }
}
