import Foundation
import Logging
import Testing
import YardCore
import YardTestSupport

@testable import YardControl

/// Drains against real TCP syslog receivers (python3 on loopback).
@Suite("Log drain senders", .serialized)
struct LogDrainSenderTests {
    static func line(_ index: Int) -> DrainedLine {
        DrainedLine(timestamp: Date(), service: "web", replica: "rep_1", stream: .stdout, message: "drain line \(index)")
    }

    @Test func aSyslogReceiverGetsEveryLineInOrder() async throws {
        let receiver = try await SyslogReceiver()
        defer { receiver.stop() }
        let sender = LogDrainSender(
            id: "drn_1", target: LogDrainTarget(kind: .syslog, url: receiver.url), capacity: 10_000, logger: Logger(label: "drain-test"))
        defer { sender.stop() }
        for index in 0..<2000 { sender.buffer.offer(Self.line(index)) }
        let deadline = ContinuousClock.now + .seconds(20)
        while receiver.messages().count < 2000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let messages = receiver.messages()
        #expect(messages.count == 2000)
        #expect(messages.enumerated().allSatisfy { $0.element.hasSuffix(" web rep_1 stdout - drain line \($0.offset)") })
        #expect(messages.first?.hasPrefix("<14>1 ") == true)
        #expect(sender.buffer.counts.sent == 2000 && sender.buffer.counts.dropped == 0)
    }

    @Test func aStalledReceiverNeverSlowsTheLogPathAndDropsAreCounted() async throws {
        let receiver = try await SyslogReceiver(stalled: true)
        defer { receiver.stop() }
        let sender = LogDrainSender(
            id: "drn_2", target: LogDrainTarget(kind: .syslog, url: receiver.url), capacity: 1000, logger: Logger(label: "drain-test"))
        defer { sender.stop() }
        // Let the connection fill the socket buffers first.
        let filler = String(repeating: "x", count: 1000)
        for _ in 0..<20 {
            for _ in 0..<1000 {
                sender.buffer.offer(DrainedLine(timestamp: Date(), service: "web", replica: nil, stream: .stdout, message: filler))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let started = ContinuousClock.now
        for index in 0..<100_000 { sender.buffer.offer(Self.line(index)) }
        let elapsed = ContinuousClock.now - started
        print("offering 100000 lines to a stalled drain took \(elapsed)")
        #expect(elapsed < .seconds(2), "offer never waits for the receiver: \(elapsed)")
        #expect(sender.buffer.counts.dropped >= 99_000, "\(sender.buffer.counts)")
        #expect(sender.buffer.counts.queued <= 1000)
    }
}
