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
    /// that ends the head, in one write. All but `X-Forwarded-Host` are the connection's,
    /// from the bytes its `ForwardingPeer` made once: a `ByteBuffer` write costs about a
    /// hundred instructions whatever its length, and the fields are nine pieces otherwise.
    mutating func writeForwardingFieldsEndingHead(_ forwarding: ForwardingFields) {
        let proto: StaticString = forwarding.overTLS ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n"
        let hostName: StaticString = "X-Forwarded-Host: "
        var host = forwarding.originalHost ?? ""
        host.withUTF8 { host in
            let peerFields = forwarding.peer.map { forwarding.overTLS ? $0.fieldsOverTLS : $0.fields }
            let hostCount = forwarding.originalHost == nil ? 0 : hostName.utf8CodeUnitCount + host.count + 2
            let count = (peerFields?.count ?? proto.utf8CodeUnitCount) + hostCount + 2
            self.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var offset: Int
                if let peerFields {
                    offset = peerFields.withUnsafeBytes { Self.copy($0, to: target, at: 0) }
                } else {
                    offset = Self.copy(proto, to: target, at: 0)
                }
                if hostCount > 0 {
                    offset = Self.copy(hostName, to: target, at: offset)
                    offset = Self.copy(UnsafeRawBufferPointer(host), to: target, at: offset)
                    offset = Self.copy("\r\n", to: target, at: offset)
                }
                return Self.copy("\r\n", to: target, at: offset)
            }
        }
    }

    /// A request line (`method target HTTP/1.x` and its CRLF) in one write.
    mutating func writeRequestLine(method: String, target: String, version: HTTPVersion) {
        guard version.major == 1, version.minor <= 1 else {
            self.writeString("\(method) \(target) HTTP/\(version.major).\(version.minor)\r\n")
            return
        }
        let ending: StaticString = version.minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n"
        var method = method
        var target = target
        method.withUTF8 { method in
            target.withUTF8 { target in
                let count = method.count + 1 + target.count + ending.utf8CodeUnitCount
                self.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { buffer in
                    var offset = Self.copy(UnsafeRawBufferPointer(method), to: buffer, at: 0)
                    offset = Self.copy(" ", to: buffer, at: offset)
                    offset = Self.copy(UnsafeRawBufferPointer(target), to: buffer, at: offset)
                    return Self.copy(ending, to: buffer, at: offset)
                }
            }
        }
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

    /// Copies `bytes` into `target` at `offset`; returns the offset after them.
    /// `target` has room for `bytes` at `offset` (its size was counted before): raw pointers,
    /// not a rebased slice, which cost a `dropFirst` and its checks each time.
    private static func copy(_ bytes: UnsafeRawBufferPointer, to target: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return offset }
        precondition(offset + bytes.count <= target.count)
        (target.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
        return offset + bytes.count
    }

    private static func copy(_ string: StaticString, to target: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        Self.copy(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount), to: target, at: offset)
    }

    /// Copies `string`'s UTF-8 into `target` at `offset`; returns the offset after it.
    private static func copy(_ string: String, to target: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var string = string
        return string.withUTF8 { Self.copy(UnsafeRawBufferPointer($0), to: target, at: offset) }
    }
}
