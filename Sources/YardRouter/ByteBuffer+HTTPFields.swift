import NIOCore
import NIOHTTP1

extension ByteBuffer {
    /// Header fields, then the empty line that ends them, in one write: `ByteBuffer` pays
    /// about a hundred instructions per write whatever its length, and a head has four
    /// pieces per field. One pass over the fields (each read is a call into NIOHTTP1) into
    /// the room the buffer already has; a field that does not fit ends the write, and the
    /// rest is measured and written in a second round, after one growth of the buffer.
    /// Both encoders of the router (requests to replicas, responses to clients) use it.
    mutating func writeHTTPFields(_ headers: HTTPHeaders) {
        var index = headers.startIndex
        let end = headers.endIndex
        var room = Swift.max(self.writableBytes, 2)
        while true {
            var done = false
            self.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target in
                var offset = 0
                while index < end {
                    let (name, value) = headers[index]
                    // The field, its line end, and the empty line after the last one.
                    guard offset + name.utf8.count + value.utf8.count + 6 <= target.count else { return offset }
                    offset = Self.copy(name, to: target, at: offset)
                    target[offset] = UInt8(ascii: ":")
                    target[offset + 1] = UInt8(ascii: " ")
                    offset = Self.copy(value, to: target, at: offset + 2)
                    target[offset] = UInt8(ascii: "\r")
                    target[offset + 1] = UInt8(ascii: "\n")
                    offset += 2
                    index = headers.index(after: index)
                }
                target[offset] = UInt8(ascii: "\r")
                target[offset + 1] = UInt8(ascii: "\n")
                done = true
                return offset + 2
            }
            if done { return }
            room = 2
            for (name, value) in headers[index...] {
                room += name.utf8.count + value.utf8.count + 4
            }
        }
    }

    /// Copies `string`'s UTF-8 into `target` at `offset`; returns the offset after it.
    private static func copy(_ string: String, to target: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var string = string
        return string.withUTF8 { bytes in
            UnsafeMutableRawBufferPointer(rebasing: target[offset...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
            return offset + bytes.count
        }
    }
}
