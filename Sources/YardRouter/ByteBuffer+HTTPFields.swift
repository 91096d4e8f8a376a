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
        self.writeHTTPFields(headers, endingHead: true)
    }

    /// The edge's forwarding fields (`ForwardingFields`, in its order), then the empty line
    /// that ends the head. All but `X-Forwarded-Host` are the connection's, written from the
    /// bytes its `ForwardingPeer` made once: a `ByteBuffer` write costs about a hundred
    /// instructions whatever its length, and the fields are nine pieces otherwise.
    mutating func writeForwardingFieldsEndingHead(_ forwarding: ForwardingFields) {
        if let peer = forwarding.peer {
            self.writeBytes(forwarding.overTLS ? peer.fieldsOverTLS : peer.fields)
        } else {
            self.writeStaticString(forwarding.overTLS ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n")
        }
        guard let host = forwarding.originalHost else {
            self.writeStaticString("\r\n")
            return
        }
        self.writeStaticString("X-Forwarded-Host: ")
        self.writeString(host)
        self.writeStaticString("\r\n\r\n")
    }

    /// `writeHTTPFields(_:)`; without `endingHead`, the empty line is left for the caller.
    mutating func writeHTTPFields(_ headers: HTTPHeaders, endingHead: Bool) {
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
                done = true
                guard endingHead else { return offset }
                target[offset] = UInt8(ascii: "\r")
                target[offset + 1] = UInt8(ascii: "\n")
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
