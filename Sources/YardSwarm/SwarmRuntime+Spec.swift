import Foundation
import YardCore
import YardRuntime

/// The service spec of a replica, and the secret its variables travel in.
extension SwarmRuntime {
    /// The file the variables are in, under `/run/secrets/`.
    static let environmentFileName = "switchyard.env"
    static let ownerLabel = "dev.switchyard.owner"

    /// A swarm name for `id` under the prefix: letters, digits and '-', at most 63 characters.
    func objectName(_ id: String) -> String {
        let cleaned = String((configuration.namePrefix + "-" + id).map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        return String(cleaned.prefix(63))
    }

    func labels(_ request: ReplicaRequest) -> [String: String] {
        [
            Self.ownerLabel: configuration.namePrefix,
            "dev.switchyard.replica": request.id,
            "dev.switchyard.deployment": request.deploymentID,
            "dev.switchyard.service": request.serviceID,
            "dev.switchyard.environment": request.environmentID,
        ]
    }

    func makeSpec(_ request: ReplicaRequest, image: String, network: String, arguments: [String], workingDirectory: String)
        -> SwarmServiceSpec
    {
        let name = objectName(request.id)
        let policy = request.restartPolicy
        // The variables are read from the secret by the shell, then the image's own argv runs.
        let wrapper =
            "set -a; . /run/secrets/\(Self.environmentFileName); set +a; exec \"$@\""
        let limits = request.limits
        return SwarmServiceSpec(
            Name: name, Labels: labels(request),
            TaskTemplate: .init(
                ContainerSpec: .init(
                    Image: image, Labels: labels(request), Command: ["/bin/sh", "-c", wrapper, "switchyard"] + arguments,
                    Env: [], Dir: workingDirectory.isEmpty ? nil : workingDirectory, Hostname: request.id,
                    StopGracePeriod: Int64(10_000_000_000), Secrets: nil, Init: true),
                // Swarm always replaces a task (`any`, no limit), or it would not move one off a
                // drained node under `none` or `on-failure`; the replica's own policy decides in
                // `watch`, which scales the service to zero when that policy does not restart.
                RestartPolicy: .init(Condition: "any", Delay: Self.nanoseconds(policy.baseBackoff), MaxAttempts: 0),
                Resources: .init(
                    Limits: .init(
                        NanoCPUs: limits.cpus.map { Int64($0 * 1_000_000_000) }, MemoryBytes: limits.memoryBytes,
                        Pids: limits.maxProcesses.map { Int64($0) })),
                Networks: [.init(Target: network, Aliases: ["\(request.serviceName.lowercased()).\(ReplicaAddressing.privateDomain)"])],
                // Without a registry the image is only in the manager's engine.
                Placement: configuration.registry == nil ? .init(Constraints: ["node.role==manager"]) : nil),
            Mode: .init(Replicated: .init(Replicas: 1)),
            UpdateConfig: .init(Parallelism: 1, Order: "start-first"),
            EndpointSpec: .init(
                Mode: "dnsrr",
                Ports: [.init(Protocol: "tcp", TargetPort: request.port, PublishedPort: 0, PublishMode: "host")]))
    }

    /// The replica's variables as a swarm secret: an env file of `export NAME='value'` lines
    /// (names that are not shell names are left out, as a shell could not set them).
    func createEnvironmentSecret(for request: ReplicaRequest, name: String) async throws -> String {
        let text = Self.environmentFile(request.environment)
        let spec = SwarmSecretSpec(Name: name, Labels: labels(request), Data: Data(text.utf8).base64EncodedString())
        // A secret of the same name left by a failed start is replaced.
        if let existing = try? await engine.get("/secrets/\(name)", as: LabeledObject.self) {
            _ = try? await engine.call(.DELETE, "/secrets/\(existing.id)")
        }
        return try await engine.call(.POST, "/secrets/create", body: spec, as: CreatedObject.self).id
    }

    static func environmentFile(_ environment: [String: String]) -> String {
        environment.keys.sorted().compactMap { key -> String? in
            guard let first = key.first, first == "_" || (first.isASCII && first.isLetter),
                key.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
            else { return nil }
            let value = environment[key, default: ""].replacingOccurrences(of: "'", with: "'\\''")
            return "\(key)='\(value)'\n"
        }.joined()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// An image artifact, or an error saying why this artifact cannot run on the swarm.
    static func requireImage(_ request: ReplicaRequest) throws -> ImageArtifact {
        switch request.artifact {
        case .image(let image): return image
        case .folder:
            throw YardError(
                .unavailable,
                "\(request.serviceName): its build is a folder, and the swarm runtime runs only images: give the service a "
                    + "Dockerfile or an image (yard add --image), or run yard serve with the sandbox runtime")
        case nil:
            throw YardError(
                .unavailable,
                "\(request.serviceName): this database deployment has no image of its server (it was made for the sandbox "
                    + "runtime, which runs the host's packages): yard redeploy builds the image and runs it on the swarm")
        }
    }
}
