import NIOCore

/// The buffer an event loop's last request or response went out in, kept for the next one
/// written on that loop (on any of its connections).
///
/// A head or a small response is written into a buffer of its own and handed to the
/// channel, which usually writes it at once and lets it go. Allocating and freeing one for
/// each request upstream and each response to the client cost about 400 instructions each.
/// Taking the spare back clears it in place when nothing else holds it any more, and
/// allocates a fresh one when something does (a write still queued, a slice kept): reusing
/// it can never change bytes that were handed on.
///
/// Loop-bound: only the loop's own handlers use it, from its thread.
final class SpareWriteBuffer {
    private var spare: ByteBuffer?

    /// A larger buffer is let go rather than kept: a connection between requests should
    /// not hold a large head's room.
    static let maximumKeptCapacity = 8 * 1024

    init() {}

    /// An empty buffer with room for at least `capacity` bytes.
    func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = self.spare.take() else { return allocator.buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// `buffer` was handed to a channel: its storage is taken back by `take` once the
    /// channel lets go of it.
    func keep(_ buffer: ByteBuffer) {
        guard buffer.capacity <= Self.maximumKeptCapacity else { return }
        self.spare = buffer
    }
}
