import Foundation
import Testing
import YardCore

@testable import YardBuild

/// The Dockerfile layer cache's planning: which starts of stages read no context, the
/// Dockerfile that builds one, its key, and the file rewritten to start from it.
@Suite("Dockerfile cached stage starts")
struct DockerfilePrefixTests {
    static let text = """
        ARG TOOLCHAIN=gcc
        FROM debian:bookworm-slim AS builder
        ARG TOOLCHAIN
        RUN apt-get update && \\
            apt-get install -y $TOOLCHAIN
        WORKDIR /src
        COPY . .
        RUN make

        FROM builder AS tested
        RUN make test

        FROM debian:bookworm-slim
        ENV MODE=production
        COPY --from=builder /src/app /srv/app
        CMD ["/srv/app"]
        """

    @Test("a stage's start up to its first COPY is cacheable when it has a RUN and starts from an image")
    func plans() throws {
        let file = try Dockerfile(parsing: Self.text)
        let prefixes = DockerfilePrefix.cacheable(in: file, text: Self.text)
        // The second stage starts from an earlier stage; the last has no RUN before its COPY.
        #expect(prefixes.map(\.stage) == [0])
        let prefix = try #require(prefixes.first)
        #expect(prefix.instructions.map(\.keyword) == ["FROM", "ARG", "RUN", "WORKDIR"])
        #expect(prefix.lines == "2-6")
        let global = DockerfilePrefix.globalPart(of: Self.text, dockerfile: file)
        #expect(global == "ARG TOOLCHAIN=gcc")
        #expect(prefix.dockerfile(globalPart: global) == """
            ARG TOOLCHAIN=gcc
            FROM debian:bookworm-slim
            ARG TOOLCHAIN
            RUN apt-get update &&  apt-get install -y $TOOLCHAIN
            WORKDIR /src

            """)
    }

    @Test("the key changes with the base image, a build argument, a secret or a line, and with nothing else")
    func keys() throws {
        let file = try Dockerfile(parsing: Self.text)
        let prefix = try #require(DockerfilePrefix.cacheable(in: file, text: Self.text).first)
        let key = { (global: String, base: String, arguments: [String: String], secrets: [String: String]) in
            prefix.key(globalPart: global, baseImageID: base, buildArguments: arguments, secrets: secrets)
        }
        let reference = key("", "sha256:a", ["TOOLCHAIN": "gcc"], ["TOKEN": "x"])
        #expect(key("", "sha256:a", ["TOOLCHAIN": "gcc"], ["TOKEN": "x"]) == reference)
        #expect(key("", "sha256:b", ["TOOLCHAIN": "gcc"], ["TOKEN": "x"]) != reference)
        #expect(key("", "sha256:a", ["TOOLCHAIN": "clang"], ["TOKEN": "x"]) != reference)
        #expect(key("", "sha256:a", ["TOOLCHAIN": "gcc"], ["TOKEN": "y"]) != reference)
        #expect(key("ARG TOOLCHAIN=gcc", "sha256:a", ["TOOLCHAIN": "gcc"], ["TOKEN": "x"]) != reference)
        // The source after the first COPY is not part of it.
        let edited = Self.text.replacingOccurrences(of: "RUN make\n", with: "RUN make all\n")
        let editedPrefix = try #require(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: edited), text: edited).first)
        #expect(editedPrefix.key(globalPart: "", baseImageID: "sha256:a", buildArguments: ["TOOLCHAIN": "gcc"], secrets: ["TOKEN": "x"])
            == reference)
    }

    @Test("the rewritten file starts the stage from the cached image, declares its ARGs again and keeps the lines of the rest")
    func rewrites() throws {
        let file = try Dockerfile(parsing: Self.text)
        let prefixes = DockerfilePrefix.cacheable(in: file, text: Self.text)
        let global = DockerfilePrefix.globalPart(of: Self.text, dockerfile: file)
        let (text, tracked) = DockerfilePrefix.rewrite(
            file, globalPart: global, prefixes: prefixes, images: [0: "localhost/yard-cache/svc:abc"])
        #expect(text == """
            ARG TOOLCHAIN=gcc
            FROM localhost/yard-cache/svc:abc AS builder
            ARG TOOLCHAIN
            COPY . .
            RUN make
            FROM builder AS tested
            RUN make test
            FROM debian:bookworm-slim
            ENV MODE=production
            COPY --from=builder /src/app /srv/app
            CMD ["/srv/app"]

            """)
        // buildah's STEP 4 of stage 1 (RUN make) is still line 8 of the user's file.
        #expect(tracked.instruction(stage: 1, step: 4)?.line == 8)
        #expect(tracked.instruction(stage: 3, step: 2)?.text == "ENV MODE=production")
        // It reads back as the same stages.
        let reread = try Dockerfile(parsing: text)
        #expect(reread.stages.map(\.name) == file.stages.map(\.name))
    }

    @Test("a RUN that binds the context, ADD, heredocs and an escape directive end or stop the cache")
    func limits() throws {
        let bind = "FROM debian:bookworm-slim\nRUN apt-get update\nRUN --mount=type=bind,target=/src make\nRUN true\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: bind), text: bind).first?.instructions.count == 2)
        let cacheMount = "FROM debian:bookworm-slim\nRUN --mount=type=cache,target=/var/cache/apt apt-get update\nADD x /x\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: cacheMount), text: cacheMount).first?.instructions.count == 2)
        let onlyCopy = "FROM debian:bookworm-slim\nCOPY . .\nRUN make\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: onlyCopy), text: onlyCopy).isEmpty)
        let heredoc = "FROM debian:bookworm-slim\nRUN <<EOF\necho hi\nEOF\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: heredoc), text: heredoc).isEmpty)
        let escape = "# escape=`\nFROM debian:bookworm-slim\nRUN apt-get update\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: escape), text: escape).isEmpty)
        let variable = "ARG BASE=debian:bookworm-slim\nFROM $BASE\nRUN apt-get update\n"
        #expect(DockerfilePrefix.cacheable(in: try Dockerfile(parsing: variable), text: variable).isEmpty)
    }
}
