// A Swift executable with no dependencies: a tiny HTTP server on $PORT, one connection at a time.
#if canImport(Glibc)
import Glibc
#endif

let port = UInt16(getenv("PORT").map { String(cString: $0) } ?? "8080") ?? 8080
let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var yes: Int32 = 1
setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_port = port.bigEndian
address.sin_addr.s_addr = INADDR_ANY
let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
}
guard bound == 0, listen(server, 64) == 0 else { fatalError("cannot listen on \(port)") }
print("swift fixture listening on \(port)")
fflush(stdout)
while true {
    let client = accept(server, nil, nil)
    if client < 0 { continue }
    var buffer = [UInt8](repeating: 0, count: 4096)
    _ = read(client, &buffer, buffer.count)
    let body = "swift fixture says hello"
    let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    _ = response.withCString { write(client, $0, strlen($0)) }
    close(client)
}
