#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The one thread every child process is spawned from.
///
/// Linux sends a child its parent-death signal (`PR_SET_PDEATHSIG`, which
/// `bwrap --die-with-parent` and `setpriv --pdeathsig` set) when the *thread* that spawned it
/// ends, not when the process does. Swift concurrency's and Dispatch's worker threads end
/// after a few idle seconds, so a sandbox spawned from one was SIGKILLed about five seconds
/// after its thread went idle: a build step killed mid-way, a replica "crashing" with signal
/// 9, at random and mostly on a busy machine. Spawning from this thread, which lives as long
/// as the process, ties every child to a parent that does not go away.
///
/// The caller blocks for the spawn itself (as `posix_spawn` on its own thread did); the
/// spawns of all callers take turns.
final class SpawnThread: @unchecked Sendable {
    static let shared = SpawnThread()

    private let condition = NSCondition()
    private var pending: [Job] = []
    private var thread: pthread_t?

    private init() {
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [unowned self] in
            condition.withLock { self.thread = pthread_self() }
            started.signal()
            serve()
        }
        thread.name = "yard-spawn"
        thread.start()
        started.wait()
    }

    /// Runs `body` on the spawn thread and returns what it returned.
    func run<Value>(_ body: () throws -> Value) throws -> Value {
        if let thread = condition.withLock({ self.thread }), pthread_equal(thread, pthread_self()) != 0 {
            return try body()
        }
        return try withoutActuallyEscaping(body) { escapable in
            var result: Result<Value, any Error>?
            let job = Job { result = Result(catching: escapable) }
            condition.withLock {
                pending.append(job)
                condition.signal()
            }
            job.done.wait()
            return try result!.get()
        }
    }

    private func serve() -> Never {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let job = pending.removeFirst()
            condition.unlock()
            job.run()
        }
    }

    /// One call: its closure is dropped before the caller is woken, so the caller's
    /// `withoutActuallyEscaping` sees it gone, and nothing it captured is used on two
    /// threads at once.
    private final class Job: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private var work: (() -> Void)?

        init(_ work: @escaping () -> Void) { self.work = work }

        func run() {
            do {
                let work = self.work
                self.work = nil
                work?()
            }
            done.signal()
        }
    }
}
