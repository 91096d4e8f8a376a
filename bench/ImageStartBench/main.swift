// Start-to-ready time of an image replica against a folder replica, both in the sandbox.
//
//   swift build --product ImageStartBench && .build/debug/ImageStartBench [starts]
//
// Both run the same perl HTTP server (`TestImages.httpServerScript`) through
// `SandboxRuntime.placeReplica` + `startReplica` on a private network (10.212.249.0/24) and
// count until the port accepts: the folder replica from a folder on the host's read-only
// root, the image replica from an image built from the machine's Debian (an instance layer,
// a user namespace of its own), the latter with and without a spare instance made ahead.
// Prints the medians, the ratios and the time an image adds (goal: at most 100 ms), and the
// instance creation alone. Needs root, bwrap, ip, buildah.
import Foundation
import Logging
import YardCore
import YardImage
import YardRuntime
import YardSandbox
import YardTestSupport

let starts = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 15
var logger = Logger(label: "bench")
logger.logLevel = .warning
let clock = ContinuousClock()

func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }
func milliseconds(_ duration: Duration) -> String { String(format: "%.1f ms", Double(duration / .microseconds(1)) / 1000) }

let (sandboxOK, reason) = SandboxLauncher.isAvailable(cgroupParent: "ybench-img")
guard sandboxOK else {
    print("cannot run the sandbox here: \(reason)")
    exit(1)
}
let scratch = URL(fileURLWithPath: "/tmp/yard-bench-images-\(getpid())")
let store = try await TestImages.storeWithDebian(in: scratch.appendingPathComponent("images"))
// As a server's data directory: traversable by the boxes' users, not listable.
_ = chmod(scratch.path, 0o711)
let context = scratch.appendingPathComponent("context")
try TestImages.writeHTTPServerContext(at: context, user: "1000")
try await store.run(.buildah, ["bud", "--pull=never", "--quiet", "-t", "localhost/bench/http:1", context.path])
guard let image = try await store.inspect("localhost/bench/http:1") else { fatalError("the bench image was not built") }
let folder = scratch.appendingPathComponent("folder")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
try TestImages.httpServerScript.write(to: folder.appendingPathComponent("server.pl"), atomically: true, encoding: .utf8)
_ = chmod(folder.path, 0o755)

let fabric = NetworkFabric(configuration: .init(namePrefix: "ybimg"), logger: logger)
let runtime = SandboxRuntime(
    configuration: .init(dataDirectory: scratch, platformExecutable: "/bin/true", privateNetworkBase: 212, networkPrefix: "ybimg"),
    launcher: SandboxLauncher(configuration: .init(cgroupParent: "ybench-img")), network: fabric, logger: logger)

func startAndWait(_ id: String, artifact: ReplicaRequest.Artifact, command: String) async throws -> Duration {
    let request = ReplicaRequest(
        id: id, deploymentID: "dep_bench", serviceID: "svc_bench", serviceName: "web", environmentID: "env_bench",
        subnetIndex: 249, artifact: artifact, command: command,
        environment: ["PORT": "8080", "PATH": "/usr/local/bin:/usr/bin:/bin"], port: 8080)
    let started = clock.now
    let address = try await runtime.placeReplica(request).address
    try await runtime.startReplica(id: id)
    let result = await HealthChecker.waitForPort(
        host: address, port: 8080, timeout: .seconds(10),
        schedule: HealthCheckSchedule(shortestPause: .milliseconds(1), longestPause: .milliseconds(1), settleTime: .zero))
    guard result.passed else { throw YardError(.unavailable, "\(id) not ready: \(result.reason)") }
    return clock.now - started
}

var folderStarts: [Duration] = []
var coldImageStarts: [Duration] = []
var imageStarts: [Duration] = []
var instances: [Duration] = []
do {
    // The first image replica leaves a spare behind for the next one.
    _ = try await startAndWait("rep_bw-0", artifact: .image(image), command: "")
    await runtime.stopReplica(id: "rep_bw-0", grace: .seconds(2))
    await runtime.imageSparesReady()
    for index in 0..<starts {
        folderStarts.append(
            try await startAndWait("rep_bf-\(index)", artifact: .folder(path: folder.path, builtInPlace: false), command: "exec perl server.pl"))
        await runtime.stopReplica(id: "rep_bf-\(index)", grace: .seconds(2))
        // Without a spare: the instance is made during the start (buildah from + mount).
        await runtime.setImageSpares(enabled: false)
        coldImageStarts.append(try await startAndWait("rep_bn-\(index)", artifact: .image(image), command: ""))
        await runtime.stopReplica(id: "rep_bn-\(index)", grace: .seconds(2))
        await runtime.setImageSpares(enabled: true)
        imageStarts.append(try await startAndWait("rep_bi-\(index)", artifact: .image(image), command: ""))
        await runtime.stopReplica(id: "rep_bi-\(index)", grace: .seconds(2))
        // The next spare is made before anything else is timed.
        await runtime.imageSparesReady()
        let begin = clock.now
        _ = try await store.createInstance(image: image, name: "rep_bc-\(index)", idBase: SandboxIdentity.imageIDBase)
        instances.append(clock.now - begin)
        await store.removeInstance(name: "rep_bc-\(index)")
    }
} catch {
    print("bench failed: \(error)")
}
await runtime.stopAll(grace: .seconds(2))
await runtime.shutdown()
_ = try? await SandboxLauncher.removeLeftovers(cgroupParent: "ybench-img")
await TestImages.remove(store, andFolder: scratch)
guard !imageStarts.isEmpty, folderStarts.count == imageStarts.count else { exit(1) }

let folderMedian = median(folderStarts)
let coldMedian = median(coldImageStarts)
let imageMedian = median(imageStarts)
func ratio(_ image: Duration) -> String {
    String(format: "%.2f", Double(image / .microseconds(1)) / Double(folderMedian / .microseconds(1)))
}
print("sandboxed replica start-to-ready over \(imageStarts.count) starts (median), interleaved")
print("  folder replica (read-only host root, /app):              \(milliseconds(folderMedian))")
print("  image replica, instance made at start (no spare):         \(milliseconds(coldMedian))  ratio \(ratio(coldMedian)), "
    + "adds \(milliseconds(coldMedian - folderMedian))")
print("  image replica taking its image's spare instance:          \(milliseconds(imageMedian))  ratio \(ratio(imageMedian)), "
    + "adds \(milliseconds(imageMedian - folderMedian))  (goal: at most 100 ms)")
print("  instance create (buildah from + mount + bind) alone: \(milliseconds(median(instances)))")
