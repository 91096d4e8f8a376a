// Start-to-ready time of a replica in the sandbox against the same process started bare.
//
//   scripts/release-build.sh --product SandboxStartBench && .build/release/SandboxStartBench [starts]
//
// Each start launches `python3 -m http.server $PORT` and waits until the port accepts a
// connection; bare runs on 127.0.0.1 with the plain launcher, sandboxed runs get a network
// namespace on a bridge (10.212.250.0/24), bubblewrap and cgroups, exactly as replicas do.
// Prints the medians, the ratio and the time the sandbox adds, and the start of a box whose
// root is root of a user namespace (RAILWAY_RUN_UID=0). Needs root, bwrap and ip.
import Foundation
import Logging
import YardCore
import YardSandbox
import YardRuntime

let starts = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20
var logger = Logger(label: "bench")
logger.logLevel = .warning
let clock = ContinuousClock()
let command = ["/usr/bin/python3", "-m", "http.server"]

func median(_ values: [Duration]) -> Duration {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func milliseconds(_ duration: Duration) -> String {
    String(format: "%.1f ms", Double(duration / .microseconds(1)) / 1000)
}

func startAndWait(
    launcher: any ProcessLauncher, host: String, port: Int, sandbox: SandboxSpec?
) async throws -> (any LaunchedProcess, Duration) {
    let started = clock.now
    var spec = LaunchSpec(
        arguments: command + [String(port), "--bind", host], environment: ["PATH": "/usr/bin:/bin", "HOME": "/tmp"],
        workingDirectory: "/tmp", label: "bench", sandbox: sandbox)
    spec.sandbox = sandbox
    let process = try await launcher.launch(spec) { _, _ in }
    let result = await HealthChecker.waitForPort(host: host, port: port, timeout: .seconds(10),
        schedule: HealthCheckSchedule(shortestPause: .milliseconds(1), longestPause: .milliseconds(1), settleTime: .zero))
    guard result.passed else { throw YardError(.unavailable, "not ready: \(result.reason)") }
    return (process, clock.now - started)
}

func stop(_ process: any LaunchedProcess) async {
    process.signal(SIGKILL)
    _ = await process.wait()
}

let (sandboxOK, sandboxReason) = SandboxLauncher.isAvailable(cgroupParent: "ybench")
let (networkOK, networkReason) = NetworkFabric.isAvailable()
guard sandboxOK, networkOK else {
    print("cannot run the sandbox here: \(sandboxReason) \(networkReason)")
    exit(1)
}

let plain = PlainProcessLauncher()
let sandbox = SandboxLauncher(configuration: .init(cgroupParent: "ybench"))
let fabric = NetworkFabric(configuration: .init(namePrefix: "ybnch"), logger: logger)
_ = try await fabric.ensureEnvironment(environmentID: "bench", subnet: Subnet(index: 250, base: 212))

var bare: [Duration] = []
var boxed: [Duration] = []
var attaching: [Duration] = []
var rooted: [Duration] = []
for index in 0..<starts {
    let port = try PortAllocator.freePort()
    let (process, elapsed) = try await startAndWait(launcher: plain, host: "127.0.0.1", port: port, sandbox: nil)
    bare.append(elapsed)
    await stop(process)

    let begin = clock.now
    let attachment = try await fabric.attach(replicaID: "bench-\(index)", environmentID: "bench")
    let attached = clock.now - begin
    let spec = SandboxSpec(hostname: "bench-\(index)", networkNamespace: attachment.namespace, cgroupName: "bench-\(index)")
    let (boxedProcess, boxedElapsed) = try await startAndWait(launcher: sandbox, host: attachment.address, port: 8080, sandbox: spec)
    attaching.append(attached)
    boxed.append(attached + boxedElapsed)
    await stop(boxedProcess)
    await fabric.detach(replicaID: "bench-\(index)")

    // RAILWAY_RUN_UID=0: the same box as a service uid that is root in a user namespace.
    let rootAttachment = try await fabric.attach(replicaID: "benchr-\(index)", environmentID: "bench")
    let rootSpec = SandboxSpec(
        hostname: "benchr-\(index)", networkNamespace: rootAttachment.namespace, runAsRoot: true, cgroupName: "benchr-\(index)",
        hostUID: SandboxIdentity.uid(forService: "bench"))
    let (rootProcess, rootElapsed) = try await startAndWait(
        launcher: sandbox, host: rootAttachment.address, port: 8080, sandbox: rootSpec)
    rooted.append(attached + rootElapsed)
    await stop(rootProcess)
    await fabric.detach(replicaID: "benchr-\(index)")
}
await fabric.removeAll()
_ = try? await SandboxLauncher.removeLeftovers(cgroupParent: "ybench")

let bareMedian = median(bare)
let boxedMedian = median(boxed)
print("replica start-to-ready over \(starts) starts (median)")
print("  bare process on loopback:          \(milliseconds(bareMedian))")
print("  sandbox (netns + bwrap + cgroups): \(milliseconds(boxedMedian))  (of which network attach \(milliseconds(median(attaching))))")
print(String(format: "  ratio sandbox/bare: %.2f", Double(boxedMedian / .microseconds(1)) / Double(bareMedian / .microseconds(1))))
print("  added per replica: \(milliseconds(boxedMedian - bareMedian))  (goal: at most 30 ms)")
print("  sandbox as root in a user namespace (RAILWAY_RUN_UID=0): \(milliseconds(median(rooted)))")
