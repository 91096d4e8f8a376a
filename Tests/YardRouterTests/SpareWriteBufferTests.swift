import NIOCore
import Testing

@testable import YardRouter

/// The event loop's spare write buffer: its storage is reused only when nothing else holds
/// it, so reusing it never changes bytes handed on.
@Suite("Spare write buffer")
struct SpareWriteBufferTests {
    private static func address(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    @Test func aBufferNothingElseHoldsIsClearedAndReused() {
        let spare = SpareWriteBuffer()
        var first = spare.take(capacity: 256, allocator: ByteBufferAllocator())
        first.writeString("GET / HTTP/1.1\r\n\r\n")
        let storage = Self.address(first)
        spare.keep(first)
        first = ByteBuffer()  // the channel wrote it and let go
        let second = spare.take(capacity: 256, allocator: ByteBufferAllocator())
        #expect(Self.address(second) == storage)
        #expect(second.readableBytes == 0)
        #expect(second.capacity >= 256)
    }

    @Test func aBufferStillHeldIsNotWrittenOver() {
        let spare = SpareWriteBuffer()
        var written = spare.take(capacity: 64, allocator: ByteBufferAllocator())
        written.writeString("queued response")
        spare.keep(written)
        // `written` stands for the channel's queued write, not flushed yet.
        var next = spare.take(capacity: 64, allocator: ByteBufferAllocator())
        next.writeString("the next one, written meanwhile")
        #expect(Self.address(next) != Self.address(written))
        #expect(String(buffer: written) == "queued response")
    }

    @Test func aTakenBufferHasTheRoomAskedFor() {
        let spare = SpareWriteBuffer()
        var small = spare.take(capacity: 16, allocator: ByteBufferAllocator())
        small.writeString("x")
        spare.keep(small)
        small = ByteBuffer()
        let large = spare.take(capacity: 4096, allocator: ByteBufferAllocator())
        #expect(large.capacity >= 4096)
        #expect(large.readableBytes == 0)
    }

    @Test func aLargeBufferIsNotKept() {
        let spare = SpareWriteBuffer()
        var large = ByteBufferAllocator().buffer(capacity: SpareWriteBuffer.maximumKeptCapacity + 1)
        large.writeString("a large head")
        spare.keep(large)
        large = ByteBuffer()
        // A kept buffer would come back with its room; a new one has the room asked for.
        #expect(spare.take(capacity: 16, allocator: ByteBufferAllocator()).capacity < SpareWriteBuffer.maximumKeptCapacity)
    }
}
