// Switchyard's router alone, for bench/proxy/run.sh: one event loop, one route.
//
//   scripts/release-build.sh --product ProxyBench
//   ProxyBench UPSTREAM_HOST:PORT [--host NAME] [--listen-port N] [--max-idle N] [--loops N]
//              [--https-port N --cert PEM --key PEM] [--metrics | --access-log] [--tcp-port N]
//              [--epoll-relay-port N] [--nio-http1]
//
// Routes NAME (default `bench.local`, the Host header the load generator sends) to the
// upstream, listens on 127.0.0.1 (port 0 unless given), prints `port N` once it listens and
// serves until SIGTERM or SIGINT. `--max-idle` is the idle upstream pool per event loop
// (default 64, the size of nginx's `keepalive` pool in the comparison). `--loops` is the number
// of event loops (default 1), each with its own listening socket (`SO_REUSEPORT`).
// `--https-port` adds the HTTPS listener (h2 or HTTP/1.1 by ALPN) serving the certificate in
// `--cert`/`--key` for NAME; it prints `https-port N` once it listens (bench/proxy/h2.sh).
// `--metrics` adds what `yard serve` puts behind every request: the access log observer hands
// each entry to an `AccessLogBuffer`, and a task takes the batches and counts them in
// `RouterMetrics` (Prometheus counters, histogram, per service tally), as the server does.
// `--access-log` is the observer, the buffer and the task taking its batches without the
// metrics (bench/metrics-cost.sh's "access log only" row).
// `--tcp-port N` also opens the router's TCP proxy (`yard domain --tcp`) on 127.0.0.1:N to the
// same upstream: bytes relayed between two sockets of the router's own event loop with nothing
// parsed (bench/proxy/instructions.sh's `switchyard-tcp` target).
// `--epoll-relay-port N` relays 127.0.0.1:N to the upstream on a thread of its own with epoll
// and plain system calls, no NIO (`EpollRelay`, the `swift-epoll` target): the same relay's
// floor for a Swift program doing its own I/O.
// Plain HTTP/1.1 is served on the router's own event loops (`Router.Configuration.
// ownEventLoops`, issue 17); `--nio-http1` serves it on NIO's channels instead, as before
// (the `switchyard-nio` targets).
import Foundation
import Logging
import NIOPosix
import Prometheus
import ServiceLifecycle
import YardRouter

func usage(_ message: String) -> Never {
    let usage =
        "usage: ProxyBench UPSTREAM_HOST:PORT [--host NAME] [--listen-port N] [--max-idle N] [--loops N] [--https-port N --cert PEM --key PEM] [--tcp-port N] [--epoll-relay-port N] [--nio-http1]"
    FileHandle.standardError.write(Data("ProxyBench: \(message)\n\(usage)\n".utf8))
    exit(2)
}

func number(_ text: String, for option: String) -> Int {
    guard let value = Int(text), value >= 0 else { usage("\(option) takes a number, not '\(text)'") }
    return value
}

var arguments = Array(CommandLine.arguments.dropFirst())
var routedHost = "bench.local"
var listenPort = 0
var maxIdle = 64
var loops = 1
var upstreamAddress: String?
var httpsPort: Int?
var certificateFile: String?
var keyFile: String?
var withMetrics = false
var ownLoops = true
var withAccessLog = false
var tcpPort: Int?
var epollRelayPort: Int?
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    func value() -> String {
        guard !arguments.isEmpty else { usage("\(argument) needs a value") }
        return arguments.removeFirst()
    }
    switch argument {
    case "--host": routedHost = value()
    case "--listen-port": listenPort = number(value(), for: argument)
    case "--max-idle": maxIdle = number(value(), for: argument)
    case "--loops": loops = max(1, number(value(), for: argument))
    case "--https-port": httpsPort = number(value(), for: argument)
    case "--cert": certificateFile = value()
    case "--key": keyFile = value()
    case "--metrics": withMetrics = true
    case "--nio-http1": ownLoops = false
    case "--access-log": withAccessLog = true
    case "--tcp-port": tcpPort = number(value(), for: argument)
    case "--epoll-relay-port": epollRelayPort = number(value(), for: argument)
    default:
        guard upstreamAddress == nil, !argument.hasPrefix("-") else { usage("unexpected argument '\(argument)'") }
        upstreamAddress = argument
    }
}
guard let upstreamAddress, let colon = upstreamAddress.lastIndex(of: ":"),
    let upstreamPort = Int(upstreamAddress[upstreamAddress.index(after: colon)...])
else { usage("give the upstream as HOST:PORT") }
let upstreamHost = String(upstreamAddress[..<colon])

/// The one certificate the benchmark serves.
struct FixedCertificate: CertificateSource {
    let certificate: TLSCertificate
    func certificate(forHost host: String) async throws -> TLSCertificate { self.certificate }
}

var logger = Logger(label: "proxybench")
logger.logLevel = .warning
// One event loop by default, so the router gets one thread like nginx's one worker and
// HAProxy's one thread.
let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: loops)
var configuration = Router.Configuration(
    host: "127.0.0.1", port: listenPort, maxIdleConnectionsPerUpstream: maxIdle, shutdownGracePeriod: .seconds(1))
configuration.ownEventLoops = ownLoops
if let httpsPort {
    guard let certificateFile, let keyFile else { usage("--https-port needs --cert and --key") }
    do {
        let certificate = try TLSCertificate(
            certificateFile: URL(fileURLWithPath: certificateFile), privateKeyFile: URL(fileURLWithPath: keyFile), source: .files)
        configuration.https = .init(port: httpsPort, certificates: FixedCertificate(certificate: certificate))
    } catch {
        usage("--cert/--key: \(error)")
    }
}
let router = Router(
    configuration: configuration,
    eventLoopGroup: eventLoopGroup,
    logger: logger
)
router.updateRoutes(RouteTable(routes: [routedHost: [Upstream(host: upstreamHost, port: upstreamPort, replicaID: "bench")]]))
var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: router)]
if let tcpPort {
    let tcpProxy: TCPProxy
    do {
        tcpProxy = TCPProxy(loops: try EpollEventLoopGroup(loopCount: loops, name: "tcp-proxy"), logger: logger)
    } catch {
        usage("--tcp-port: \(error)")
    }
    do {
        try await tcpProxy.open(port: tcpPort)
    } catch {
        usage("--tcp-port: \(error)")
    }
    tcpProxy.setUpstreams([Upstream(host: upstreamHost, port: upstreamPort, replicaID: "bench")], port: tcpPort)
    services.append(.init(service: tcpProxy))
    FileHandle.standardOutput.write(Data("tcp-port \(tcpPort)\n".utf8))
}
if let epollRelayPort {
    do {
        let relay = try EpollRelay(port: epollRelayPort, upstreamHost: upstreamHost, upstreamPort: upstreamPort)
        let thread = Thread { relay.run() }
        thread.start()
    } catch {
        usage("--epoll-relay-port: \(error)")
    }
    FileHandle.standardOutput.write(Data("epoll-relay-port \(epollRelayPort)\n".utf8))
}
let accessLog = AccessLogBuffer()
let metrics = RouterMetrics(registry: PrometheusCollectorRegistry())
if withMetrics || withAccessLog { router.onAccessLog { accessLog.add($0) } }

let group = ServiceGroup(
    configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
)
do {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            try await group.run()
            accessLog.finish()
        }
        if withMetrics || withAccessLog {
            // The server's access log writer, with only its metrics part: each batch counted.
            let counting = withMetrics
            tasks.addTask {
                let labels = MetricLabels(project: "bench", environment: "production", service: "bench")
                for await _ in accessLog.arrivals {
                    let (entries, _) = accessLog.take()
                    if counting { metrics.record(entries.map { (key: "bench", labels: labels, entry: $0) }) }
                }
            }
        }
        tasks.addTask {
            let port = try await router.boundPort()
            // Unbuffered, so a caller reading a pipe sees it at once.
            FileHandle.standardOutput.write(Data("port \(port)\n".utf8))
            if let https = try await router.boundHTTPSPort() {
                FileHandle.standardOutput.write(Data("https-port \(https)\n".utf8))
            }
        }
        try await tasks.waitForAll()
    }
} catch {
    FileHandle.standardError.write(Data("ProxyBench: \(error)\n".utf8))
    exit(1)
}
try await eventLoopGroup.shutdownGracefully()
