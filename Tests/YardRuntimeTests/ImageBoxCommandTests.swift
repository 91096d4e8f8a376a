import Foundation
import Logging
import Testing
import YardCore

@testable import YardRuntime
@testable import YardSandbox

/// The image box's chain and id blocks, as pure values; and the plain runtime's refusal.
@Suite struct ImageBoxCommandTests {
    let tools = SandboxTools(bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv", nsenter: "/usr/bin/nsenter")

    func command(uid: UInt32, dropTool: String?) -> SandboxCommand {
        var sandbox = SandboxSpec(
            hostname: "rep_1", networkNamespace: "yard-n1", writableBinds: [BindMount(source: "/vol", target: "/data")],
            hostsFile: "/d/run/rep_1/hosts", cgroupName: "rep_1")
        let image = ImageBox(rootDirectory: "/d/images/instances/rep_1", idBase: 0x8001_0000, uid: uid, gid: uid)
        sandbox.image = image
        let spec = LaunchSpec(
            arguments: ["redis-server"], environment: ["SECRET": "s3cret"], workingDirectory: "/data", label: "rep_1",
            sandbox: sandbox)
        return SandboxCommand(
            imageSpec: spec, sandbox: sandbox, image: image, tools: tools, unshare: "/usr/bin/unshare", dropTool: dropTool,
            cgroupProcessFiles: ["/sys/fs/cgroup/yard/rep_1/cgroup.procs"], seccompFile: "/run/yard-sandbox/s.bpf")
    }

    @Test func theNetworkIsJoinedBeforeTheUserNamespaceAndTheInstanceIsTheRoot() throws {
        let arguments = command(uid: 0, dropTool: nil).arguments
        let nsenter = try #require(arguments.firstIndex(of: "/usr/bin/nsenter"))
        let unshare = try #require(arguments.firstIndex(of: "/usr/bin/unshare"))
        let bwrap = try #require(arguments.firstIndex(of: "/usr/bin/bwrap"))
        #expect(nsenter < unshare && unshare < bwrap)
        #expect(
            Array(arguments[unshare...].prefix(8)) == [
                "/usr/bin/unshare", "--user", "--map-users=2147549184,0,65536", "--map-groups=2147549184,0,65536",
                "--setuid", "0", "--setgid", "0",
            ])
        #expect(Array(arguments[bwrap...]).contains(sequence: ["--bind", "/d/images/instances/rep_1", "/"]))
        #expect(Array(arguments[bwrap...]).contains(sequence: ["--bind", "/vol", "/data"]))
        #expect(Array(arguments[bwrap...]).contains(sequence: ["--ro-bind", "/d/run/rep_1/hosts", "/etc/hosts"]))
        #expect(Array(arguments[bwrap...]).contains(sequence: ["--seccomp", "3"]))
        #expect(Array(arguments[bwrap...]).contains(sequence: ["--chdir", "/data", "--"]))
        #expect(!arguments.contains("/usr/bin/setpriv"), "a root image runs as root inside")
        #expect(!arguments.contains { $0.contains("s3cret") }, "variable values never reach a command line")
    }

    @Test func aRootImageKeepsDockersDefaultCapabilitiesOnly() {
        let arguments = command(uid: 0, dropTool: nil).arguments
        let added = zip(arguments, arguments.dropFirst()).filter { $0.0 == "--cap-add" }.map(\.1)
        #expect(Set(added) == Set(ImageBox.defaultCapabilities))
        #expect(!added.contains("CAP_SYS_ADMIN") && !added.contains("CAP_NET_ADMIN"))
        #expect(arguments.contains(sequence: ["--cap-drop", "ALL"]))
    }

    @Test func aNonRootImageDropsToItsUserWithNoCapabilities() throws {
        let arguments = command(uid: 999, dropTool: "/usr/bin/setpriv").arguments
        let drop = try #require(arguments.firstIndex(of: "/usr/bin/setpriv"))
        #expect(
            Array(arguments[drop...].prefix(8)) == [
                "/usr/bin/setpriv", "--reuid=999", "--regid=999", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", "--",
            ])
        #expect(Array(arguments.suffix(1)) == ["redis-server"])
    }

    @Test func imageIDBlocksAreAlignedDisjointFromServiceUIDsAndStable() {
        let block = SandboxIdentity.imageIDBlock(forService: "svc_a/env_b")
        #expect(block == SandboxIdentity.imageIDBlock(forService: "svc_a/env_b"))
        #expect(block != SandboxIdentity.imageIDBlock(forService: "svc_a/env_c"))
        #expect(block % SandboxIdentity.imageIDCount == 0)
        #expect(block >= SandboxIdentity.imageIDBase)
        #expect(UInt64(block) + UInt64(SandboxIdentity.imageIDCount) <= 0xFF00_0000)
        #expect(SandboxIdentity.unpackUID < SandboxIdentity.imageIDBase)
        #expect(!SandboxIdentity.isServiceUID(block) && !SandboxIdentity.isServiceUID(block + 65535))
    }

    @Test func missingSubordinateIDsAreReportedWithTheLineToAdd() throws {
        let line = SandboxIdentity.imageSubordinateLine
        #expect(line == "root:2147483648:2130706432")
        try SandboxIdentity.checkImageSubordinateIDs(subuid: "user:100000:65536\n\(line)\n", subgid: line)
        #expect {
            try SandboxIdentity.checkImageSubordinateIDs(subuid: "user:100000:65536\n", subgid: line)
        } throws: { error in
            (error as? YardError)?.message.contains("add the line '\(line)' to /etc/subuid") == true
        }
    }

    @Test func thePlainRuntimeRefusesImagesSayingWhatTheyNeed() async {
        let runtime = ProcessRuntime(host: "127.0.0.1", logger: Logger(label: "image-refusal-test"))
        let request = ReplicaRequest(
            id: "rep_img-0", deploymentID: "dep_img", serviceID: "svc_img", serviceName: "web", environmentID: "env_img",
            subnetIndex: 1, artifact: .image(ImageArtifact(id: "sha256:abc", name: "docker.io/library/redis:7", config: .init())),
            command: "", environment: [:])
        await #expect {
            _ = try await runtime.placeReplica(request)
        } throws: { error in
            let message = (error as? YardError)?.message ?? ""
            return message.contains("docker.io/library/redis:7") && message.contains("sandbox runtime")
                && message.contains("--runtime plain")
        }
    }
}

extension Array where Element: Equatable {
    /// Whether `sequence` appears in order, contiguously.
    func contains(sequence: [Element]) -> Bool {
        guard !sequence.isEmpty, sequence.count <= count else { return sequence.isEmpty }
        return (0...(count - sequence.count)).contains { Array(self[$0..<($0 + sequence.count)]) == sequence }
    }
}
