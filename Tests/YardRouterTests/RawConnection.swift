import Foundation
import NIOCore
import NIOPosix

/// Bytes exactly as written: requests an HTTP client library would refuse to send.
enum RawConnection {
    /// Connects to 127.0.0.1:`port`, writes `request`, and returns everything that comes
    /// back until the router closes the connection or `timeout` passes.
    static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> String {
        // A router that refuses the connection may close it before the request is written;
        // what it answered is still there to read.
        try await exchange(port: port, writes: [request], timeout: timeout)
    }
}

extension RawConnection {
    /// An open connection that sends nothing, for tests that hold connections.
    static func open(port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .get()
    }
}

extension RawConnection {
    /// Like `exchange(port:_:timeout:)`, but writes `writes` one after another with `pause`
    /// between them, and with `closingOutput` closes the sending side after the last one
    /// (a client's half-close), still reading what comes back.
    static func exchange(
        port: Int, writes: [String], pause: Duration = .zero, closingOutput: Bool = false,
        timeout: Duration = .seconds(5)
    ) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var received = ""
                    do {
                        for try await buffer in inbound { received += String(buffer: buffer) }
                    } catch {
                        // A reset after the answer still leaves the answer.
                    }
                    return received
                }
                for (index, write) in writes.enumerated() {
                    if index > 0, pause > .zero { try await Task.sleep(for: pause) }
                    try? await outbound.write(ByteBuffer(string: write))
                }
                if closingOutput { outbound.finish() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else {
                    throw TestClientError(description: "the router neither answered nor closed within \(timeout)")
                }
                return first
            }
        }
    }
}

extension RawConnection {
    /// Writes `request`, reads the first bytes of the answer, stops reading for `pause` (the
    /// router's writes back up), closes the sending side and reads the rest. Returns the
    /// response head and how many body bytes followed it.
    static func exchangeClosingOutputMidResponse(
        port: Int, _ request: String, pause: Duration
    ) async throws -> (head: String, bodyBytes: Int) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var iterator = inbound.makeAsyncIterator()
            var received = ByteBuffer()
            guard var first = try await iterator.next() else { return ("", 0) }
            received.writeBuffer(&first)
            try await Task.sleep(for: pause)
            outbound.finish()
            do {
                while var next = try await iterator.next() { received.writeBuffer(&next) }
            } catch {
                // A reset ends what arrived.
            }
            let prefix = received.getString(at: received.readerIndex, length: min(4096, received.readableBytes)) ?? ""
            guard let headEnd = prefix.range(of: "\r\n\r\n") else { return (prefix, 0) }
            let head = String(prefix[..<headEnd.upperBound])
            return (head, received.readableBytes - head.utf8.count)
        }
    }
}

/// One HTTP/1.1 response read back from raw bytes.
struct RawResponse: Equatable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String

    static func == (a: RawResponse, b: RawResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers) { $0 == $1 }
    }

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The responses in `text`, in order, each framed by its `Content-Length` or chunked
    /// encoding; a response cut short ends the list (and is left out).
    static func parseAll(_ text: String) -> [RawResponse] {
        var rest = Substring(text)
        var responses: [RawResponse] = []
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let lines = rest[..<headEnd.lowerBound].components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else { break }
            let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            var response = RawResponse(status: status, headers: headers, body: "")
            var after = rest[headEnd.upperBound...]
            if let length = response.header("content-length").flatMap({ Int($0) }) {
                let bytes = Array(after.utf8)
                guard bytes.count >= length else { break }
                response.body = String(decoding: bytes[..<length], as: UTF8.self)
                after = Substring(String(decoding: bytes[length...], as: UTF8.self))
            } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
                var complete = false
                while let sizeEnd = after.range(of: "\r\n"), let size = Int(after[..<sizeEnd.lowerBound], radix: 16) {
                    let bytes = Array(after[sizeEnd.upperBound...].utf8)
                    guard bytes.count >= size + 2 else { break }
                    response.body += String(decoding: bytes[..<size], as: UTF8.self)
                    after = Substring(String(decoding: bytes[(size + 2)...], as: UTF8.self))
                    if size == 0 {
                        complete = true
                        break
                    }
                }
                guard complete else { break }
            }
            responses.append(response)
            rest = after
        }
        return responses
    }
}
