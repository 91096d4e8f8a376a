import Foundation
import Testing
import YardCore

@testable import YardControl

/// The rule state machine on a manual clock: dates are set by hand, nothing sleeps.
@Suite("Alert rule state machine")
struct AlertRuleMachineTests {
    let start = ManualClock.date(hour: 10, minute: 0)

    func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    @Test func unknownObservationsLeaveARulePending() {
        var machine = AlertRuleMachine(repeatInterval: 3600)
        for second in 0..<10 { #expect(machine.observe(nil, at: at(Double(second))) == nil) }
        #expect(machine.state == .pending)
        #expect(machine.observe(false, at: at(11)) == nil)
        #expect(machine.state == .ok)
    }

    @Test func firesOnceRepeatsOnItsIntervalAndResolvesOnce() {
        var machine = AlertRuleMachine(repeatInterval: 3600)
        #expect(machine.observe(true, at: at(0)) == .fire)
        #expect(machine.state == .firing)
        // Still true every 5 s for just under an hour: silent.
        var actions: [AlertRuleMachine.Action] = []
        for tick in stride(from: 5.0, to: 3600, by: 5) {
            if let action = machine.observe(true, at: at(tick)) { actions.append(action) }
        }
        #expect(actions.isEmpty)
        #expect(machine.observe(true, at: at(3600)) == .repeat)
        #expect(machine.observe(true, at: at(3605)) == nil)
        // Unknown while firing changes nothing.
        #expect(machine.observe(nil, at: at(3700)) == nil)
        #expect(machine.state == .firing)
        #expect(machine.observe(false, at: at(3710)) == .resolve)
        #expect(machine.state == .resolved)
        #expect(machine.resolvedAt == at(3710))
        #expect(machine.observe(false, at: at(3715)) == nil)
        // It can fire again later.
        #expect(machine.observe(true, at: at(4000)) == .fire)
        #expect(machine.firedAt == at(4000))
    }

    @Test func aCrashLoopFiresOnceNotPerRestart() {
        var machine = AlertRuleMachine(repeatInterval: 3600)
        var condition = AlertEventCondition(lastTriggerAt: nil, quiet: 300)
        var sent: [AlertRuleMachine.Action] = []
        // A restart every 2 s (backoff aside) for a minute, with evaluation ticks between.
        for second in stride(from: 0.0, to: 60, by: 1) {
            if Int(second) % 2 == 0 { condition.trigger(at: at(second)) }
            if let action = machine.observe(condition.holds(at: at(second)), at: at(second)) { sent.append(action) }
        }
        #expect(sent == [.fire])
        // Five quiet minutes after the last restart: resolved.
        #expect(machine.observe(condition.holds(at: at(58 + 299)), at: at(58 + 299)) == nil)
        #expect(machine.observe(condition.holds(at: at(58 + 300)), at: at(58 + 300)) == .resolve)
    }

    @Test func aResolvingEventEndsAnEventCondition() {
        var condition = AlertEventCondition(lastTriggerAt: nil, quiet: 600)
        condition.trigger(at: at(0))
        #expect(condition.holds(at: at(10)))
        condition.resolve()
        #expect(!condition.holds(at: at(11)))
    }

    @Test func thresholdsNeedTheirUnit() throws {
        #expect(try AlertThreshold.parse("20%") == AlertThreshold(value: 20, unit: .percent))
        #expect(try AlertThreshold.parse("500ms") == AlertThreshold(value: 500, unit: .milliseconds))
        #expect(try AlertThreshold.parse("1.5s") == AlertThreshold(value: 1500, unit: .milliseconds))
        for bad in ["20", "abc", "150%", "-1%"] {
            #expect(throws: YardError.self) { try AlertThreshold.parse(bad) }
        }
        #expect(throws: YardError.self) { try AlertKind.parse("cpu") }
        #expect(try AlertKind.parse("crash-loop") == .crashLoop)
        #expect(try AlertDurationText.seconds("1m", flag: "--over") == 60)
        #expect(throws: YardError.self) { try AlertDurationText.seconds("soon", flag: "--over") }
    }

    @Test func aSignatureIsCheckedAgainstItsTimestampAndTooOldOnesAreReplays() {
        let body = Data(#"{"type":"Alert.triggered"}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let timestamp = Int(now.timeIntervalSince1970)
        let signature = AlertWebhookSignature.signature(body: body, timestamp: timestamp, secret: "s3cret")
        #expect(AlertWebhookSignature.isValid(signature: signature, timestamp: String(timestamp), body: body, secret: "s3cret", now: now))
        #expect(!AlertWebhookSignature.isValid(signature: signature, timestamp: String(timestamp), body: body, secret: "other", now: now))
        #expect(
            !AlertWebhookSignature.isValid(
                signature: signature, timestamp: String(timestamp), body: body + Data(" ".utf8), secret: "s3cret", now: now))
        #expect(
            !AlertWebhookSignature.isValid(
                signature: signature, timestamp: String(timestamp), body: body, secret: "s3cret", now: now.addingTimeInterval(301)))
        #expect(
            !AlertWebhookSignature.isValid(
                signature: signature, timestamp: String(timestamp + 1), body: body, secret: "s3cret", now: now))
    }

    @Test func messagesAreDotStuffedAndLinesEndInCRLF() {
        let message = AlertSMTPClient.message(from: "yard@example.com", to: "ops@example.com", subject: "x", body: "a\n.b\n..c")
        #expect(message.contains("\r\n\r\na\r\n.b\r\n..c"))
        let stuffed = AlertSMTPClient.dotStuffed(message)
        #expect(stuffed.hasSuffix("\r\na\r\n..b\r\n...c"))
    }
}
