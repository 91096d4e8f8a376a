import Foundation
import Testing
import YardCore

@testable import YardControl

@Suite("Log drain framing and buffer")
struct LogDrainFormatTests {
    @Test func syslogFramesAreRFC5424WithOctetCounting() {
        let line = DrainedLine(
            timestamp: Date(timeIntervalSince1970: 1_800_000_000.25), service: "web", replica: "rep_1", stream: .stderr, message: "héllo wörld")
        let message = line.syslogMessage(hostname: "box")
        #expect(message == "<11>1 2027-01-15T08:00:00.250Z box web rep_1 stderr - héllo wörld")
        let frame = line.syslogFrame(hostname: "box")
        #expect(frame == "\(message.utf8.count) \(message)")
        #expect(message.utf8.count != message.count, "the length counts bytes, not characters")
        let out = DrainedLine(timestamp: Date(), service: "my app", replica: nil, stream: .stdout, message: "x").syslogMessage(hostname: "")
        #expect(out.hasPrefix("<14>1 ") && out.contains(" - myapp - stdout - x"), "\(out)")
    }

    @Test func aFullBufferDropsAndCountsWithoutWaiting() async {
        let buffer = DrainBuffer(capacity: 3)
        for index in 0..<5 {
            buffer.offer(DrainedLine(timestamp: Date(), service: "web", replica: nil, stream: .stdout, message: "\(index)"))
        }
        #expect(buffer.counts.dropped == 2 && buffer.counts.queued == 3)
        let batch = await buffer.take(maximum: 10)
        #expect(batch.map(\.message) == ["0", "1", "2"])
        buffer.close()
        #expect(await buffer.take(maximum: 10).isEmpty)
    }

    @Test func targetsAreChecked() {
        #expect(throws: YardError.self) { try LogDrainTarget.validate(kind: .syslog, url: "udp://127.0.0.1:514") }
        #expect(throws: YardError.self) { try LogDrainTarget.validate(kind: .syslog, url: "tcp://127.0.0.1") }
        #expect(throws: YardError.self) { try LogDrainTarget.validate(kind: .http, url: "ftp://x") }
        #expect(throws: Never.self) { try LogDrainTarget.validate(kind: .syslog, url: "tcp://127.0.0.1:6514") }
    }
}
