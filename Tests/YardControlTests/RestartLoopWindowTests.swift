import Foundation
import Testing
import YardControl

@Suite("Restart loop window")
struct RestartLoopWindowTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("three restarts within five minutes make a loop; each restart after says so again")
    func threeWithinWindow() {
        var window = RestartLoopWindow()
        #expect(window.record(replicaID: "r1", at: start) == nil)
        #expect(window.record(replicaID: "r1", at: start + 60) == nil)
        #expect(window.record(replicaID: "r1", at: start + 120) == 3)
        #expect(window.record(replicaID: "r1", at: start + 130) == 4)
    }

    @Test("restarts spread wider than the window never make a loop, however many")
    func spreadOut() {
        var window = RestartLoopWindow(count: 3, window: 300)
        for index in 0..<10 {
            #expect(window.record(replicaID: "r1", at: start + Double(index) * 200) == nil, "restart \(index)")
        }
    }

    @Test("a slow crasher loops by the window even though it ran a while between crashes")
    func slowCrasherWithinWindow() {
        // 90 s of uptime between crashes: the supervisor's attempt counter would reset each time.
        var window = RestartLoopWindow(count: 3, window: 600)
        #expect(window.record(replicaID: "r1", at: start) == nil)
        #expect(window.record(replicaID: "r1", at: start + 90) == nil)
        #expect(window.record(replicaID: "r1", at: start + 180) == 3)
    }

    @Test("replicas are counted apart, and forgotten once their restarts leave the window")
    func perReplica() {
        var window = RestartLoopWindow(count: 2, window: 60)
        #expect(window.record(replicaID: "a", at: start) == nil)
        #expect(window.record(replicaID: "b", at: start + 1) == nil)
        #expect(window.record(replicaID: "a", at: start + 2) == 2)
        #expect(window.record(replicaID: "c", at: start + 200) == nil)
        #expect(window.restarts.keys.sorted() == ["c"])
    }

    @Test("the tracker shares one window under a lock")
    func tracker() {
        let tracker = RestartLoopTracker(RestartLoopWindow(count: 2, window: 60))
        #expect(tracker.record(replicaID: "a", at: start) == nil)
        #expect(tracker.record(replicaID: "a", at: start + 1) == 2)
        #expect(tracker.window == 60)
    }
}
