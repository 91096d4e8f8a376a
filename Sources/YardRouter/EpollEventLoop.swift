#if canImport(Glibc)
    import Atomics
    import CEpoll
    import Dispatch
    import Glibc
    import NIOConcurrencyHelpers
    import NIOCore

    /// What a descriptor watched by an `EpollEventLoop` is told when it is ready.
    protocol EpollWatcher: AnyObject {
        /// `events` are epoll's flags (`EPOLLIN`, `EPOLLOUT`, `EPOLLHUP`, `EPOLLERR`, ...).
        func epollReady(_ events: UInt32)
    }

    /// An event loop on a thread of its own that reads and writes sockets itself, with epoll,
    /// rather than through SwiftNIO's channels: issue 17's HTTP/1.1 path. Moving a request's
    /// bytes through NIO's channels cost the router 14,000 instructions, against nginx's 1,950
    /// for its whole I/O (docs/performance.md).
    ///
    /// It is an `EventLoop`, so promises, futures, `scheduleTask` and `NIOLoopBound` work on it
    /// as on NIO's loops, and code that only needs a loop (timers, pools, held requests) runs
    /// on either. Descriptors are watched with the events their owner asks for (`watch`: a
    /// listener level-triggered, a connection edge-triggered); each registration carries
    /// a generation, so an event for a descriptor closed earlier in the same batch never
    /// reaches the watcher of a new descriptor with the same number.
    final class EpollEventLoop: EventLoop, @unchecked Sendable {
        private let epoll: Int32
        /// Written by `execute` from other threads to wake the loop from `epoll_wait`.
        private let wakeDescriptor: Int32
        /// Set once, before the thread starts taking work (the initializer waits for it).
        private var thread = pthread_t()

        private struct Registration {
            var watcher: any EpollWatcher
            var generation: UInt32
        }

        /// Indexed by descriptor; only touched on the loop.
        private var registrations: [Registration?] = []
        private var nextGeneration: UInt32 = 0

        /// Tasks from the loop itself, run after the current batch of events.
        private var localTasks: [() -> Void] = []
        /// Tasks from other threads; the loop is woken when the first one is added.
        private let remoteTasks = NIOLockedValueBox<[@Sendable () -> Void]>([])
        private var timers = TimerHeap()

        private enum State {
            case running
            case closing([(DispatchQueue, @Sendable ((any Error)?) -> Void)])
            case closed
        }

        private let state = NIOLockedValueBox<State>(.running)
        /// Set once `state` has left `running`: the loop checks it each round without the lock.
        private let shutdownRequested = ManagedAtomic(false)
        /// Shared by the loop's sockets for their reads: see `SocketConnection`.
        var readBuffer: ByteBuffer?
        /// When the loop's current round began: the clock is read once after each wait, not
        /// by every deadline a request sets (six a request, about 1 % of the router's time).
        /// Code on the loop sets its deadlines from it, as nginx does from its cached time; a
        /// round's work takes well under a millisecond, so deadlines of seconds barely move.
        /// Only read on the loop.
        private(set) var roundStart = NIODeadline.now()
        let allocator = ByteBufferAllocator()

        /// Starts the loop's thread, named `name`.
        init(name: String = "yard-epoll") throws {
            let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
            guard epoll >= 0 else { throw SocketError.system("epoll_create1", errno) }
            let wake = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
            guard wake >= 0 else {
                Glibc.close(epoll)
                throw SocketError.system("eventfd", errno)
            }
            self.epoll = epoll
            self.wakeDescriptor = wake
            guard cepoll_ctl(epoll, EPOLL_CTL_ADD, wake, EPOLLIN.rawValue, UInt64.max) == 0 else {
                let error = errno
                Glibc.close(epoll)
                Glibc.close(wake)
                throw SocketError.system("epoll_ctl", error)
            }
            let started = ConditionLock(value: false)
            let start = ThreadStart(loop: self, name: name, started: started)
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { argument in
                    let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
                    start.run()
                    return nil
                }, Unmanaged.passRetained(start).toOpaque())
            guard created == 0 else {
                Glibc.close(epoll)
                Glibc.close(wake)
                throw SocketError.system("pthread_create", created)
            }
            started.lock(whenValue: true)
            started.unlock()
            pthread_detach(thread)
        }

        /// Hands the new thread its loop, and lets the initializer go once `thread` is set.
        private final class ThreadStart {
            let loop: EpollEventLoop
            let name: String
            let started: ConditionLock<Bool>

            init(loop: EpollEventLoop, name: String, started: ConditionLock<Bool>) {
                self.loop = loop
                self.name = name
                self.started = started
            }

            func run() {
                self.loop.thread = pthread_self()
                cepoll_set_thread_name(String(self.name.prefix(15)))
                self.started.lock()
                self.started.unlock(withValue: true)
                self.loop.run()
            }
        }

        // MARK: - EventLoop

        var inEventLoop: Bool { pthread_equal(pthread_self(), self.thread) != 0 }

        func execute(_ task: @escaping @Sendable () -> Void) {
            if self.inEventLoop {
                self.localTasks.append(task)
                return
            }
            let first = self.remoteTasks.withLockedValue { tasks in
                tasks.append(task)
                return tasks.count == 1
            }
            if first { self.wake() }
        }

        /// Buffers small writes were copied into (`SocketConnection.write`), written and given
        /// back, for the next. Only touched on the loop.
        private var writeBuffers: [ByteBuffer] = []
        /// Kept at most; more are let go, as is a buffer grown past `SocketConnection.gatheredWriteLimit` twice.
        private static let keptWriteBuffers = 64

        /// An empty buffer for small writes, with room for `minimumCapacity` bytes.
        func takeWriteBuffer(minimumCapacity: Int) -> ByteBuffer {
            guard var buffer = self.writeBuffers.popLast() else {
                return self.allocator.buffer(capacity: max(minimumCapacity, 1024))
            }
            buffer.clear(minimumCapacity: minimumCapacity)
            return buffer
        }

        /// `buffer`, from `takeWriteBuffer`, was written.
        func giveBackWriteBuffer(_ buffer: ByteBuffer) {
            guard self.writeBuffers.count < Self.keptWriteBuffers,
                buffer.capacity <= 2 * SocketConnection.gatheredWriteLimit
            else { return }
            self.writeBuffers.append(buffer)
        }

        /// Connections flushed during this round: their writes go out together at its end
        /// (`SocketConnection.flush`). Only touched on the loop.
        private var flushes: [SocketConnection] = []

        /// Has `connection` write what it flushed at the end of the current round.
        func flushAtEndOfRound(_ connection: SocketConnection) {
            self.flushes.append(connection)
        }

        private func writeFlushes() {
            guard !self.flushes.isEmpty else { return }
            let connections = self.flushes
            self.flushes.removeAll(keepingCapacity: true)
            for connection in connections { connection.writeAtEndOfRound() }
        }

        /// Runs `task` after the current batch of events, on the loop; only from the loop.
        func executeLocally(_ task: @escaping () -> Void) {
            self.localTasks.append(task)
        }

        func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
            let promise: EventLoopPromise<T> = self.makePromise()
            let timer = LoopTimer(
                deadline: deadline,
                run: {
                    do {
                        promise.assumeIsolated().succeed(try task())
                    } catch {
                        promise.fail(error)
                    }
                },
                abandon: { promise.fail(EventLoopError.shutdown) }
            )
            if self.inEventLoop {
                self.timers.insert(timer)
            } else {
                self.execute { [self] in
                    // Cancelled before it got here: never inserted.
                    if !timer.isCancelled { self.timers.insert(timer) }
                }
            }
            // `Scheduled.cancel()` fails the promise itself; the loop only drops the timer.
            return Scheduled(promise: promise) { [self] in
                if self.inEventLoop {
                    self.timers.cancel(timer)
                } else {
                    self.execute { [self] in self.timers.cancel(timer) }
                }
            }
        }

        func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
            self.scheduleTask(deadline: .now() + delay, task)
        }

        func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
            let wake = self.state.withLockedValue { state -> Bool in
                switch state {
                case .running:
                    state = .closing([(queue, callback)])
                    return true
                case .closing(var callbacks):
                    callbacks.append((queue, callback))
                    state = .closing(callbacks)
                    return false
                case .closed:
                    queue.async { callback(nil) }
                    return false
                }
            }
            if wake {
                self.shutdownRequested.store(true, ordering: .releasing)
                self.wake()
            }
        }

        // MARK: - Descriptors

        /// Watches `descriptor` for `events` (with `EPOLLET` edge-triggered) until `unwatch` or its close.
        func watch(_ descriptor: Int32, events: UInt32, watcher: any EpollWatcher) throws {
            self.assertInEventLoop()
            let index = Int(descriptor)
            if index >= self.registrations.count {
                self.registrations.append(contentsOf: repeatElement(nil, count: max(index + 1 - self.registrations.count, 256)))
            }
            self.nextGeneration &+= 1
            let generation = self.nextGeneration
            guard cepoll_ctl(self.epoll, EPOLL_CTL_ADD, descriptor, events, Self.data(descriptor, generation)) == 0 else {
                throw SocketError.system("epoll_ctl", errno)
            }
            self.registrations[index] = Registration(watcher: watcher, generation: generation)
        }

        /// Forgets `descriptor`'s watcher; call before closing it. Closing removes it from epoll.
        func unwatch(_ descriptor: Int32) {
            let index = Int(descriptor)
            guard index < self.registrations.count else { return }
            self.registrations[index] = nil
        }

        private static func data(_ descriptor: Int32, _ generation: UInt32) -> UInt64 {
            UInt64(generation) << 32 | UInt64(UInt32(bitPattern: descriptor))
        }

        // MARK: - The loop

        private func wake() {
            var one: UInt64 = 1
            _ = Glibc.write(self.wakeDescriptor, &one, 8)
        }

        private func run() {
            let capacity = 256
            let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
            defer { events.deallocate() }
            while true {
                self.runTasks()
                self.runDueTimers()
                self.writeFlushes()
                if self.shutdownRequested.load(ordering: .acquiring),
                    case .closing(let callbacks) = self.state.withLockedValue({ $0 })
                {
                    // Whatever the tasks above queued runs before the loop ends.
                    if self.localTasks.isEmpty, self.remoteTasks.withLockedValue({ $0.isEmpty }) {
                        self.finish(callbacks)
                        return
                    }
                    continue
                }
                let timeout = self.localTasks.isEmpty ? self.millisecondsToNextTimer() : 0
                let count = cepoll_wait(self.epoll, events, Int32(capacity), timeout)
                self.roundStart = .now()
                guard count > 0 else { continue }
                for index in 0..<Int(count) {
                    let event = events + index
                    let data = cepoll_event_data(event)
                    if data == UInt64.max {
                        var value: UInt64 = 0
                        _ = Glibc.read(self.wakeDescriptor, &value, 8)
                        continue
                    }
                    let descriptor = Int(UInt32(truncatingIfNeeded: data))
                    guard descriptor < self.registrations.count, let registration = self.registrations[descriptor],
                        registration.generation == UInt32(truncatingIfNeeded: data >> 32)
                    else { continue }
                    registration.watcher.epollReady(cepoll_event_flags(event))
                }
                self.writeFlushes()
            }
        }

        private func runTasks() {
            // Tasks a task adds run in the same round; a loop that only ever adds more would
            // starve its descriptors, so a round takes what is there when it starts.
            if !self.localTasks.isEmpty {
                let tasks = self.localTasks
                self.localTasks.removeAll(keepingCapacity: true)
                for task in tasks { task() }
            }
            let remote = self.remoteTasks.withLockedValue { tasks -> [@Sendable () -> Void] in
                defer { tasks.removeAll() }
                return tasks
            }
            for task in remote { task() }
        }

        private func runDueTimers() {
            guard !self.timers.isEmpty else { return }
            let now = NIODeadline.now()
            self.roundStart = now
            while let timer = self.timers.popDue(now: now) {
                timer.run()
            }
        }

        /// Epoll's timeout: -1 without timers, and rounded up, so a timer is never woken for early.
        private func millisecondsToNextTimer() -> Int32 {
            guard let next = self.timers.nextDeadline else { return -1 }
            let nanoseconds = (next - .now()).nanoseconds
            guard nanoseconds > 0 else { return 0 }
            return Int32(min((nanoseconds + 999_999) / 1_000_000, Int64(Int32.max)))
        }

        private func finish(_ callbacks: [(DispatchQueue, @Sendable ((any Error)?) -> Void)]) {
            self.state.withLockedValue { $0 = .closed }
            // Timers that never ran fail, as on NIO's loops at shutdown.
            for timer in self.timers.removeAll() { timer.abandon() }
            self.registrations.removeAll()
            Glibc.close(self.epoll)
            Glibc.close(self.wakeDescriptor)
            for (queue, callback) in callbacks { queue.async { callback(nil) } }
        }

    }
#endif

#if canImport(Glibc)
    /// The router's own event loops (`EpollEventLoop`), one per core by default, handed out in
    /// turn by `next()`. The process's `singleton` lives as long as the process, like NIO's.
    public final class EpollEventLoopGroup: EventLoopGroup, Sendable {
        let loops: [EpollEventLoop]
        private let nextIndex = NIOLockedValueBox(0)

        /// Starts `loopCount` loops, each on its own thread.
        public init(loopCount: Int = System.coreCount, name: String = "yard-epoll") throws {
            precondition(loopCount > 0, "an event loop group needs at least one loop")
            self.loops = try (0..<loopCount).map { try EpollEventLoop(name: "\(name)-\($0)") }
        }

        /// The process's group, started on first use.
        public static let singleton: EpollEventLoopGroup = {
            do {
                return try EpollEventLoopGroup()
            } catch {
                fatalError("cannot start the router's event loops: \(error)")
            }
        }()

        public func next() -> any EventLoop { self.nextLoop() }

        func nextLoop() -> EpollEventLoop {
            let index = self.nextIndex.withLockedValue { index in
                defer { index = (index + 1) % self.loops.count }
                return index
            }
            return self.loops[index]
        }

        public func makeIterator() -> EventLoopIterator { EventLoopIterator(self.loops) }

        public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
            let left = NIOLockedValueBox(self.loops.count)
            for loop in self.loops {
                loop.shutdownGracefully(queue: queue) { _ in
                    let last = left.withLockedValue { left in
                        left -= 1
                        return left == 0
                    }
                    if last { callback(nil) }
                }
            }
        }
    }
#endif
