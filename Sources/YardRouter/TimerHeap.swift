import NIOCore

/// A task `EpollEventLoop` runs at a deadline. A class so that its cancellation, which may
/// come before a timer scheduled from another thread reaches the loop, can mark it.
/// Only its loop touches it after it is made, and runs its closures.
final class LoopTimer: @unchecked Sendable {
    let deadline: NIODeadline
    let run: () -> Void
    /// Fails the timer's promise when its loop shuts down before it is due.
    let abandon: () -> Void
    var isCancelled = false
    /// Orders timers with the same deadline by when they were made.
    fileprivate var sequence: UInt64 = 0
    fileprivate var inHeap = false

    init(deadline: NIODeadline, run: @escaping () -> Void, abandon: @escaping () -> Void) {
        self.deadline = deadline
        self.run = run
        self.abandon = abandon
    }
}

/// An event loop's timers, earliest first: a binary heap. A cancelled timer is marked and
/// left in place until it comes up (cheap when timers are re-armed often), and the heap is
/// rebuilt without such timers once they are more than half of it.
struct TimerHeap {
    private var heap: [LoopTimer] = []
    private var cancelledCount = 0
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { self.heap.isEmpty }

    /// The earliest deadline, cancelled timers included (waking for one early is harmless).
    var nextDeadline: NIODeadline? { self.heap.first?.deadline }

    mutating func insert(_ timer: LoopTimer) {
        self.nextSequence &+= 1
        timer.sequence = self.nextSequence
        timer.inHeap = true
        self.heap.append(timer)
        self.siftUp(self.heap.count - 1)
    }

    mutating func cancel(_ timer: LoopTimer) {
        guard !timer.isCancelled else { return }
        timer.isCancelled = true
        // Not in the heap yet (scheduled from another thread) or already run: nothing to count.
        guard timer.inHeap else { return }
        self.cancelledCount += 1
        if self.cancelledCount > 32, self.cancelledCount * 2 > self.heap.count { self.compact() }
    }

    /// The earliest timer due by `now` that is not cancelled, taken out.
    mutating func popDue(now: NIODeadline) -> LoopTimer? {
        while let first = self.heap.first, first.deadline <= now {
            let timer = self.removeFirst()
            if timer.isCancelled {
                self.cancelledCount -= 1
                continue
            }
            return timer
        }
        return nil
    }

    /// Every timer not cancelled, taken out.
    mutating func removeAll() -> [LoopTimer] {
        let timers = self.heap.filter { !$0.isCancelled }
        for timer in self.heap { timer.inHeap = false }
        self.heap = []
        self.cancelledCount = 0
        return timers
    }

    private mutating func compact() {
        self.heap.removeAll { timer in
            if timer.isCancelled { timer.inHeap = false }
            return timer.isCancelled
        }
        self.cancelledCount = 0
        for index in stride(from: self.heap.count / 2 - 1, through: 0, by: -1) { self.siftDown(index) }
    }

    private mutating func removeFirst() -> LoopTimer {
        let first = self.heap[0]
        first.inHeap = false
        let last = self.heap.removeLast()
        if !self.heap.isEmpty {
            self.heap[0] = last
            self.siftDown(0)
        }
        return first
    }

    private func earlier(_ a: Int, _ b: Int) -> Bool {
        let (x, y) = (self.heap[a], self.heap[b])
        return x.deadline < y.deadline || (x.deadline == y.deadline && x.sequence < y.sequence)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.earlier(child, parent) else { return }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < self.heap.count else { return }
            var child = left
            if left + 1 < self.heap.count, self.earlier(left + 1, left) { child = left + 1 }
            guard self.earlier(child, parent) else { return }
            self.heap.swapAt(child, parent)
            parent = child
        }
    }
}
