import Foundation
import Testing
import YardClient
import YardRuntime

/// dockerd answers a request with a body and closes the connection (we ask for
/// `Connection: close`) as soon as it has read the body. A client that wrote the request's
/// end separately found the channel closed and failed a request the engine had served
/// ("I/O on closed channel": a replica placed on the swarm, reported FAILED).
@Suite("Engine connection")
struct EngineConnectionTests {
    /// A server on a unix socket that reads each request's head and `Content-Length` bytes,
    /// answers 201 and closes at once, as dockerd does.
    static let server = """
        import os, socket, sys
        path = sys.argv[1]
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(64)
        print("ready", flush=True)
        while True:
            connection, _ = listener.accept()
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                body += chunk
            answer = b'{"ID":"x"}'
            connection.sendall(b"HTTP/1.1 201 Created\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (len(answer), answer))
            connection.close()
        """

    @Test("requests with a body to a server that answers and closes at once all succeed")
    func bodyThenClose() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let socket = folder.appendingPathComponent("engine.sock").path
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.server, socket]
        let ready = Pipe()
        process.standardOutput = ready
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        _ = try ready.fileHandleForReading.read(upToCount: 6)
        let body = Data(repeating: UInt8(ascii: "a"), count: 2048)
        var failures: [String] = []
        for _ in 0..<300 {
            let request = HTTPConnection.Request(
                url: URL(string: "http://docker/v1.41/services/create")!, method: .POST,
                headers: [("Content-Type", "application/json")], body: body, unixSocketPath: socket)
            do {
                let (head, answer) = try await HTTPConnection.fetch(request)
                if head.status != 201 || answer != Data(#"{"ID":"x"}"#.utf8) { failures.append("status \(head.status)") }
            } catch {
                failures.append("\(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of 300 failed: \(Set(failures))")
    }
}
