import Foundation
import YardCore
import YardImage
import YardRuntime

/// Following a replica's tasks, images into the engine, and removing what this server made.
extension SwarmRuntime {
    /// Turns the tasks of `serviceID` into replica events until the replica is stopped or
    /// its restart policy gives up (then the service is scaled to zero, so swarm agrees).
    func watch(replicaID: String, serviceID: String) async {
        var announced: Set<String> = []
        var finished: Set<String> = []
        var moving: Set<String> = []
        var startedAt: [String: ContinuousClock.Instant] = [:]
        var attempt = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            guard let tasks = try? await tasks(serviceID: serviceID) else { continue }
            for task in tasks.sorted(by: { ($0.CreatedAt ?? "") < ($1.CreatedAt ?? "") }) {
                if task.Status.State == "running", !announced.contains(task.ID) {
                    announced.insert(task.ID)
                    await route(replicaID: replicaID, to: task)
                    startedAt[task.ID] = .now
                    continuation.yield(.started(replicaID: replicaID, pid: task.Status.ContainerStatus?.PID ?? 0, attempt: attempt))
                    attempt += 1
                }
                // Swarm is moving it (a drained node): out of routing now, before it is stopped;
                // its replacement's `started` puts the replica back.
                if task.Status.State == "running", task.DesiredState != "running", !moving.contains(task.ID), !Task.isCancelled {
                    moving.insert(task.ID)
                    continuation.yield(.output(replicaID: replicaID, stream: .stderr, line: "swarm: task leaving its node; rescheduled"))
                    continuation.yield(.exited(replicaID: replicaID, reason: .exited(code: 0), decision: .restart(after: .zero, attempt: attempt)))
                }
                guard task.isFinished, !finished.contains(task.ID), !Task.isCancelled else { continue }
                finished.insert(task.ID)
                // Shut down by swarm itself (a drained or lost node): its replacement is on its way.
                if moving.contains(task.ID) || task.Status.State == "shutdown" || task.Status.State == "orphaned" { continue }
                if let error = task.Status.Err, !error.isEmpty {
                    continuation.yield(.output(replicaID: replicaID, stream: .stderr, line: "swarm: task \(task.Status.State): \(error)"))
                }
                let reason: ExitReason = .exited(code: task.Status.ContainerStatus?.ExitCode ?? 127)
                let uptime = startedAt[task.ID].map { ContinuousClock.now - $0 } ?? .zero
                guard let decision = recordExit(replicaID: replicaID, reason: reason, uptime: uptime) else { return }
                continuation.yield(.exited(replicaID: replicaID, reason: reason, decision: decision))
                if case .restart = decision { continue }
                await scaleToZero(serviceID: serviceID, grace: .seconds(1))
                return
            }
            // Out of routing after a refused connection, its task still running: back in when it answers.
            if tasks.contains(where: { announced.contains($0.ID) && $0.Status.State == "running" && $0.DesiredState == "running" }),
                await answersAgain(replicaID: replicaID)
            {
                continuation.yield(.started(replicaID: replicaID, pid: 0, attempt: max(attempt, 1)))
                attempt += 1
            }
        }
    }

    /// The replica's own restart policy's decision (nil once it is no longer placed).
    func recordExit(replicaID: String, reason: ExitReason, uptime: Duration) -> RestartPolicy.Decision? {
        guard placed[replicaID] != nil else { return nil }
        return placed[replicaID]?.policy.processExited(reason, uptime: uptime)
    }

    func tasks(serviceID: String) async throws -> [SwarmTask] {
        let filter = #"{"service":["\#(serviceID)"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return try await engine.get("/tasks?filters=\(filter)", as: [SwarmTask].self)
    }

    func runningTask(serviceID: String) async throws -> SwarmTask? {
        try await tasks(serviceID: serviceID).first { $0.Status.State == "running" }
    }

    /// Scales the service to no task with `grace` as its stop grace (SIGTERM, then SIGKILL),
    /// and waits until its tasks are gone.
    func scaleToZero(serviceID: String, grace: Duration) async {
        // The spec is changed as the engine wrote it, so no field it holds is lost.
        if let data = try? await engine.call(.GET, "/services/\(serviceID)"),
            let service = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let version = (service["Version"] as? [String: Any])?["Index"] as? Int,
            var spec = service["Spec"] as? [String: Any], var task = spec["TaskTemplate"] as? [String: Any],
            var container = task["ContainerSpec"] as? [String: Any]
        {
            container["StopGracePeriod"] = Self.nanoseconds(grace)
            task["ContainerSpec"] = container
            spec["TaskTemplate"] = task
            spec["Mode"] = ["Replicated": ["Replicas": 0]]
            if let body = try? JSONSerialization.data(withJSONObject: spec) {
                _ = try? await engine.call(.POST, "/services/\(serviceID)/update?version=\(version)", json: body)
            }
        }
        let deadline = ContinuousClock.now + grace + .seconds(15)
        while ContinuousClock.now < deadline {
            guard let tasks = try? await tasks(serviceID: serviceID),
                tasks.contains(where: { !$0.isFinished })
            else { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
        logger.warning("swarm service did not stop in time", metadata: ["service": "\(serviceID)"])
    }

    func removeSecret(_ id: String) async {
        // The engine refuses while a task that used it is still being removed.
        var answer = "no answer"
        for _ in 0..<50 {
            do {
                let response = try await engine.send(.DELETE, "/secrets/\(id)")
                if response.succeeded || response.status == 404 { return }
                answer = "\(response.status)"
                if response.status != 409 { break }
            } catch {
                answer = "\(error)"
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        logger.warning("swarm secret could not be removed", metadata: ["secret": "\(id)", "answer": "\(answer)"])
    }

    /// Removes a service; a failure is logged (the next start removes what is left).
    func removeService(_ id: String) async {
        do {
            let response = try await engine.send(.DELETE, "/services/\(id)")
            guard !response.succeeded, response.status != 404 else { return }
            logger.warning("swarm service could not be removed", metadata: ["service": "\(id)", "answer": "\(response.status)"])
        } catch {
            logger.warning("swarm service could not be removed", metadata: ["service": "\(id)", "error": "\(error)"])
        }
    }

    /// Every service and secret labelled with this server's prefix: services first (their
    /// tasks hold the secrets), then secrets.
    func removeOwnedObjects() async {
        let filter = #"{"label":["\#(Self.ownerLabel)=\#(configuration.namePrefix)"]}"#
            .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let services = (try? await engine.get("/services?filters=\(filter)", as: [LabeledObject].self)) ?? []
        if !services.isEmpty {
            logger.info("removing swarm services left over", metadata: ["services": "\(services.map(\.id).joined(separator: ","))"])
        }
        await withTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask {
                    await self.scaleToZero(serviceID: service.id, grace: .seconds(5))
                    await self.removeService(service.id)
                }
            }
        }
        for secret in (try? await engine.get("/secrets?filters=\(filter)", as: [LabeledObject].self)) ?? [] {
            await removeSecret(secret.id)
        }
        for network in (try? await engine.get("/networks?filters=\(filter)", as: [LabeledObject].self)) ?? [] {
            await removeNetworkObject(network.id)
        }
        networks = [:]
    }

    /// The image in the engine under a name of its own (`switchyard.invalid/image:<id>`), loaded
    /// from the machine's store the first time: `skopeo copy` to a docker archive, then
    /// `POST /images/load`. The name's registry does not exist, so the engine uses it as loaded.
    func loadImage(_ image: ImageArtifact) async throws -> String {
        let hex = image.id.replacingOccurrences(of: "sha256:", with: "")
        let name = "switchyard.invalid/image:\(hex.prefix(32))"
        if let loaded = loadedImages[image.id] { return loaded }
        if (try? await engine.send(.GET, "/images/\(name)/json"))?.succeeded == true {
            loadedImages[image.id] = name
            return name
        }
        try FileManager.default.createDirectory(at: configuration.scratchDirectory, withIntermediateDirectories: true)
        let archive = configuration.scratchDirectory.appendingPathComponent("image-\(hex.prefix(32))-\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: archive) }
        let store = configuration.imageStore
        let copied = try await store.command(.skopeo, ["copy", "--quiet", "containers-storage:\(hex)", "docker-archive:\(archive.path):\(name)"])
            .result()
        guard copied.succeeded else {
            throw YardError(
                .unavailable, "could not export the image \(image.name) for the swarm: \(copied.standardError.suffix(300))")
        }
        try await engine.call(.POST, "/images/load?quiet=1", file: archive, contentType: "application/x-tar")
        loadedImages[image.id] = name
        return name
    }
}
