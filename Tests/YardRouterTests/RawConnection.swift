import NIOCore
import NIOPosix

/// Bytes exactly as written: requests an HTTP client library would refuse to send.
enum RawConnection {
    /// Connects to 127.0.0.1:`port`, writes `request`, and returns everything that comes
    /// back until the router closes the connection or `timeout` passes.
    static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            // A router that refuses the connection may close it before the request is
            // written; what it answered is still there to read.
            try? await outbound.write(ByteBuffer(string: request))
            return try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var received = ""
                    do {
                        for try await buffer in inbound { received += String(buffer: buffer) }
                    } catch {
                        // A reset after the answer still leaves the answer.
                    }
                    return received
                }
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
    /// An open connection that sends nothing, for tests that hold connections.
    static func open(port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .get()
    }
}
