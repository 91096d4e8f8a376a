import Foundation
import Testing
import YardCore

@testable import YardBuild

@Suite("Dockerfile reading")
struct DockerfileTests {
    static let multiStage = """
        # syntax=docker/dockerfile:1.7
        ARG BASE=debian:bookworm-slim
        FROM $BASE AS builder
        ARG APP_VERSION
        ARG RAILWAY_GIT_COMMIT_SHA=unknown
        RUN apt-get update && \\
            apt-get install -y make

        # the runtime stage
        FROM debian:bookworm-slim
        ARG APP_VERSION
        COPY --from=builder /out /srv
        EXPOSE 8080 9000/udp
        RUN false
        CMD ["/srv/app"]
        """

    @Test("stages, ARG names per stage, EXPOSE and the syntax line")
    func reads() throws {
        let file = try Dockerfile(parsing: Self.multiStage)
        #expect(file.syntax == "docker/dockerfile:1.7")
        #expect(file.globalArguments == ["BASE"])
        #expect(file.stages.map(\.name) == ["builder", nil])
        #expect(file.stages.map(\.base) == ["$BASE", "debian:bookworm-slim"])
        #expect(file.stages[0].arguments == ["APP_VERSION", "RAILWAY_GIT_COMMIT_SHA"])
        #expect(file.stages[1].arguments == ["APP_VERSION"])
        #expect(file.declaredArguments == ["BASE", "APP_VERSION", "RAILWAY_GIT_COMMIT_SHA"])
        #expect(file.exposedPorts == ["8080/tcp", "9000/udp"])
        // `builder` is a stage, `$BASE` is resolved by buildah.
        #expect(file.baseImages == ["$BASE", "debian:bookworm-slim"])
    }

    @Test("instructions keep the line they start on, continuations joined")
    func lineNumbers() throws {
        let file = try Dockerfile(parsing: Self.multiStage)
        let first = file.stages[0].instructions
        #expect(first.map(\.line) == [3, 4, 5, 6])
        #expect(first[3].text == "RUN apt-get update &&  apt-get install -y make")
        #expect(file.instruction(stage: 2, step: 5)?.line == 14)
        #expect(file.instruction(stage: 2, step: 5)?.text == "RUN false")
        #expect(file.instruction(stage: 3, step: 1) == nil)
    }

    @Test("a syntax line after another line is a comment")
    func lateSyntax() throws {
        let file = try Dockerfile(parsing: "FROM scratch\n# syntax=docker/dockerfile:1\n")
        #expect(file.syntax == nil)
    }

    @Test("a Dockerfile without FROM, or with an instruction before it, fails naming the line")
    func refuses() {
        #expect(throws: YardError.self) { try Dockerfile(parsing: "# nothing\n") }
        let error = #expect(throws: YardError.self) { try Dockerfile(parsing: "RUN true\nFROM scratch\n", file: "deploy/Dockerfile") }
        #expect(error?.message == "deploy/Dockerfile line 1: RUN comes before the first FROM; only ARG may")
    }

    @Test("buildah's step lines map to the Dockerfile line that failed")
    func failingStep() throws {
        let file = try Dockerfile(parsing: Self.multiStage)
        var tracker = DockerfileStepTracker()
        for line in [
            "[1/2] STEP 1/4: FROM debian:bookworm-slim AS builder", "[1/2] STEP 4/4: RUN apt-get update",
            "[2/2] STEP 1/6: FROM debian:bookworm-slim", "[2/2] STEP 5/6: RUN false",
            "error building at STEP \"RUN false\": error while running runtime: exit status 1",
        ] {
            tracker.observe(line)
        }
        #expect(tracker.failure(in: file, file: "Dockerfile") == "Dockerfile line 14: RUN false exited with status 1")

        // A single-stage build prints no [n/m] prefix.
        let single = try Dockerfile(parsing: "FROM debian:bookworm-slim\nWORKDIR /srv\n\nRUN exit 3\n")
        var plain = DockerfileStepTracker()
        plain.observe("STEP 3/3: RUN exit 3")
        plain.observe("Error: building at STEP \"RUN exit 3\": exit status 3")
        #expect(plain.failure(in: single, file: "Dockerfile") == "Dockerfile line 4: RUN exit 3 exited with status 3")
    }

    @Test("only declared ARGs get values; a build secret never does, with a warning")
    func buildArguments() {
        let selected = DockerfileBuildArguments.select(
            declared: ["APP_VERSION", "RAILWAY_GIT_COMMIT_SHA", "NPM_TOKEN", "UNSET"],
            variables: [
                "APP_VERSION": "1.2", "RAILWAY_GIT_COMMIT_SHA": "abc", "NPM_TOKEN": "s3cret-value", "OTHER": "x",
                "RAILWAY_ENVIRONMENT_NAME": "production",
            ],
            secrets: ["NPM_TOKEN"])
        #expect(selected.names == ["APP_VERSION", "RAILWAY_GIT_COMMIT_SHA"])
        #expect(selected.warnings.count == 1)
        #expect(selected.warnings[0].contains("ARG NPM_TOKEN"))
        #expect(!selected.warnings[0].contains("s3cret-value"))
    }

    @Test("the Dockerfile is found by dockerfilePath, RAILWAY_DOCKERFILE_PATH or at the root, inside the upload")
    func locate() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("yard-dockerfile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        try "FROM scratch\n".write(to: root.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
        try "FROM scratch\n".write(to: root.appendingPathComponent("deploy/Dockerfile.web"), atomically: true, encoding: .utf8)

        let detected = try Builder.locateDockerfile(in: root, configPath: nil, variables: [:])
        #expect(detected.shown == "Dockerfile" && detected.detected)
        let configured = try Builder.locateDockerfile(in: root, configPath: "deploy/Dockerfile.web", variables: [:])
        #expect(configured.shown == "deploy/Dockerfile.web" && !configured.detected)
        let variable = try Builder.locateDockerfile(in: root, configPath: nil, variables: ["RAILWAY_DOCKERFILE_PATH": "/deploy/Dockerfile.web"])
        #expect(variable.shown == "deploy/Dockerfile.web")
        #expect(throws: YardError.self) { try Builder.locateDockerfile(in: root, configPath: "../etc/passwd", variables: [:]) }
        let missing = #expect(throws: YardError.self) { try Builder.locateDockerfile(in: root, configPath: "nope/Dockerfile", variables: [:]) }
        #expect(missing?.message.contains("dockerfilePath names nope/Dockerfile") == true)
    }

    @Test("the plan names the provider, the Dockerfile, stages, ARGs and ports")
    func plan() throws {
        let plan = Builder.dockerfilePlan(try Dockerfile(parsing: Self.multiStage), shown: "Dockerfile", startCommand: nil)
        #expect(plan.provider == "dockerfile")
        #expect(plan.startCommand == "")
        #expect(plan.notes.contains("stages: builder FROM $BASE, #2 FROM debian:bookworm-slim"))
        #expect(plan.notes.contains("ARGs: BASE, APP_VERSION, RAILWAY_GIT_COMMIT_SHA"))
        #expect(plan.notes.contains("exposes: 8080/tcp, 9000/udp"))
        #expect(plan.notes.contains { $0.contains("# syntax=docker/dockerfile:1.7") && $0.contains("ignored") })
    }
}
