import Foundation
import Logging
import Testing
import YardCore

@testable import YardControl

@Suite("Notification hook")
struct NotifierTests {
    static func scratchFile() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("yard-notify-\(UUID().uuidString)")
    }

    @Test func theCommandGetsTheEventAsJSONOnStdinAndItsKindInTheEnvironment() async throws {
        let file = Self.scratchFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let event = Notifier.Event(
            event: "deployment.failed", at: Date(timeIntervalSince1970: 1_795_000_000), serviceID: "svc_1", serviceName: "web",
            deploymentID: "dep_1", message: "the build failed at step install")
        let status = try await Notifier.run(
            command: "printf '%s\\n' \"$YARD_EVENT\" > '\(file.path)'; cat >> '\(file.path)'", event: event, timeout: .seconds(10))
        #expect(status == 0)
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        try #require(lines.count == 2, "\(lines)")
        #expect(lines[0] == "deployment.failed")
        #expect(try YardJSON.decoder().decode(Notifier.Event.self, from: Data(lines[1].utf8)) == event)
    }

    @Test func aHookThatHangsIsKilledAfterItsTimeout() async throws {
        let started = ContinuousClock.now
        let status = try await Notifier.run(
            command: "exec sleep 30", event: .init(event: "backup.failed", message: "x"), timeout: .milliseconds(300))
        #expect(status != 0, "the hook was killed, not left to finish")
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    /// A process's state from `/proc`: nil once it is gone.
    static func state(of pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].first { !$0.isWhitespace }
    }

    static func pid(in file: URL) async throws -> Int32 {
        for _ in 0..<50 {
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw YardError(.internal, "the hook did not write its background pid to \(file.path)")
    }

    @Test func aHookThatLeavesAProcessRunningIsDoneWhenTheShellExits() async throws {
        let file = Self.scratchFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let started = ContinuousClock.now
        // The shell's exit is reported at once, not when the background sleep it left ends.
        let status = try await Notifier.run(
            command: "sleep 30 & echo $! > '\(file.path)'; exit 3", event: .init(event: "backup.failed", message: "x"),
            timeout: .seconds(60))
        let waited = ContinuousClock.now - started
        let background = try await Self.pid(in: file)
        defer { kill(background, SIGKILL) }
        #expect(status == 3)
        #expect(waited < .seconds(10), "the hook's exit was reported after \(waited)")
        #expect(Self.state(of: background).map { $0 != "Z" } == true, "the background process was left alone")
    }

    @Test func aTimedOutHookIsKilledWithWhatItStarted() async throws {
        let file = Self.scratchFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let started = ContinuousClock.now
        let status = try await Notifier.run(
            command: "sleep 30 & echo $! > '\(file.path)'; wait", event: .init(event: "backup.failed", message: "x"),
            timeout: .milliseconds(500))
        #expect(status == 128 + SIGKILL, "\(status)")
        #expect(ContinuousClock.now - started < .seconds(10))
        let background = try await Self.pid(in: file)
        var state = Self.state(of: background)
        for _ in 0..<50 where state != nil && state != "Z" {
            try await Task.sleep(for: .milliseconds(100))
            state = Self.state(of: background)
        }
        #expect(state == nil || state == "Z", "the hook's background process survived its timeout (state \(String(describing: state)))")
    }

    @Test func sendReturnsAtOnceAndTheHookStillRuns() async throws {
        let file = Self.scratchFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let notifier = Notifier(command: "sleep 0.3; cat > '\(file.path)'", logger: Logger(label: "test"))
        notifier.send(.init(event: "deployment.crashed", serviceName: "web", message: "every replica crashed"))
        #expect(((try? Data(contentsOf: file)) ?? Data()).isEmpty, "send waited for the hook")
        var text = ""
        for _ in 0..<100 where !text.contains("\n") {
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("\"event\":\"deployment.crashed\"") && text.contains("every replica crashed"), "\(text)")
    }

    @Test func noCommandMeansNoHook() {
        #expect(Notifier(command: nil, logger: Logger(label: "test")).command == nil)
        #expect(Notifier(command: "   ", logger: Logger(label: "test")).command == nil)
    }
}
