import Foundation
import YardControl
import YardCore
import YardStore

/// `yard alerts`: channels per project, rules per service and environment.
extension APIRoutes {
    func listAlertChannels(_ input: Operations.ListAlertChannels.Input) async throws -> Operations.ListAlertChannels.Output {
        let project = try store.project(input.path.project)
        let failures = await orchestrator.alerts.failedDeliveries
        let channels = try store.alertChannels(projectID: project.id).map { AlertEngine.view($0, failures: failures[$0.id] ?? 0) }
        return .ok(.init(body: .json(AlertChannelListView(channels: channels))))
    }

    /// A new channel; a webhook's signing secret is generated here and shown in this answer only.
    func createAlertChannel(_ input: Operations.CreateAlertChannel.Input) async throws -> Operations.CreateAlertChannel.Output {
        guard case .json(let request) = input.body else { throw Self.unexpectedBody }
        let project = try store.project(input.path.project)
        try ResourceName.validate(request.name, kind: "alert channel")
        let target = request.target.trimmingCharacters(in: .whitespaces)
        switch request.kind {
        case .email:
            let parts = target.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !target.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
            else { throw YardError(.invalidInput, "--email '\(target)' is not an email address (name@example.com)") }
        case .webhook, .slack, .discord:
            guard let url = URLComponents(string: target), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw YardError(.invalidInput, "--\(request.kind.rawValue) '\(target.prefix(80))' is not an http(s) URL")
            }
        }
        let channel = AlertChannelRecord(
            id: Identifier.make("alc"), projectID: project.id, name: request.name, kind: request.kind, target: target,
            secret: request.kind == .webhook ? ContentHash.randomToken() : nil)
        try store.createAlertChannel(channel)
        logger.info("alert channel added", metadata: ["project.id": "\(project.id)", "alert.channel": "\(channel.name)"])
        return .created(.init(body: .json(AlertEngine.view(channel, failures: 0, revealingSecret: true))))
    }

    func deleteAlertChannel(_ input: Operations.DeleteAlertChannel.Input) async throws -> Operations.DeleteAlertChannel.Output {
        let project = try store.project(input.path.project)
        let channel = try store.alertChannel(projectID: project.id, input.path.channel)
        try store.deleteAlertChannel(id: channel.id)
        return .noContent(.init())
    }

    func testAlertChannel(_ input: Operations.TestAlertChannel.Input) async throws -> Operations.TestAlertChannel.Output {
        let project = try store.project(input.path.project)
        let channel = try store.alertChannel(projectID: project.id, input.path.channel)
        return .ok(.init(body: .json(await orchestrator.alerts.test(channel: channel))))
    }

    func listAlertRules(_ input: Operations.ListAlertRules.Input) async throws -> Operations.ListAlertRules.Output {
        let project = try store.project(input.path.project)
        let rules = try store.alertRules(projectID: project.id).map { AlertEngine.view($0, store: store) }
        return .ok(.init(body: .json(AlertRuleListView(rules: rules))))
    }

    func deleteAlertRule(_ input: Operations.DeleteAlertRule.Input) async throws -> Operations.DeleteAlertRule.Output {
        let project = try store.project(input.path.project)
        guard let rule = try store.alertRule(id: input.path.rule), rule.projectID == project.id else {
            throw YardError(.notFound, "no alert rule '\(input.path.rule)' in project \(project.name); `yard alerts` lists them")
        }
        try store.deleteAlertRule(id: rule.id)
        return .noContent(.init())
    }

    /// A new rule; bad input (unknown kind, a threshold without its unit or where none
    /// applies, an unknown channel) is refused with what to do.
    func createAlertRule(_ input: Operations.CreateAlertRule.Input) async throws -> Operations.CreateAlertRule.Output {
        guard case .json(let request) = input.body else { throw Self.unexpectedBody }
        let (project, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let kind = try AlertKind.parse(request.kind)
        var threshold: AlertThreshold?
        switch (kind.thresholdUnit, request.above) {
        case (nil, nil): threshold = nil
        case (nil, .some): throw YardError(.invalidInput, "\(kind.rawValue) takes no --above: it fires on the event itself")
        case (.some(let unit), nil):
            throw YardError(
                .invalidInput, "\(kind.rawValue) needs --above, e.g. --above \(unit == .percent ? "20%" : "500ms")")
        case (.some(let unit), .some(let text)):
            let parsed = try AlertThreshold.parse(text)
            guard parsed.unit == unit else {
                throw YardError(
                    .invalidInput, "\(kind.rawValue) takes --above as \(unit == .percent ? "a percentage, e.g. 20%" : "a time, e.g. 500ms"), not '\(text)'")
            }
            threshold = parsed
        }
        let over = try request.over.map { try AlertDurationText.seconds($0, flag: "--over") } ?? 300
        let repeatSeconds = try request.repeat.map { try AlertDurationText.seconds($0, flag: "--repeat") } ?? 3600
        let channel = try store.alertChannel(projectID: project.id, request.channel)
        let rule = AlertRuleRecord(
            id: Identifier.make("alr"), projectID: project.id, serviceID: service.id, environmentID: environment.id, channelID: channel.id,
            kind: kind, threshold: threshold, overSeconds: over, repeatSeconds: repeatSeconds)
        try store.createAlertRule(rule)
        logger.info("alert rule added", metadata: ["service.name": "\(service.name)", "alert.kind": "\(kind.rawValue)"])
        return .created(.init(body: .json(AlertEngine.view(rule, store: store))))
    }
}
