import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// Issue 16 items 2 and 3 without a server: what an image build of each provider would run,
/// and where each requested toolchain version comes from (mise, Debian 12, or nowhere).
@Suite("Provider image builds")
struct ProviderImageTests {
    static let builder = makeBuilder()

    /// A scratch app folder holding `files`.
    static func app(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-image-app-\(UUID().uuidString.prefix(8))")
        for (path, text) in files {
            let file = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        return folder
    }

    static func prepare(
        _ files: [String: String], variables: [String: String] = [:], mise: MiseInstaller? = nil, certificates: URL? = nil
    ) throws -> ProviderImageBuild {
        let folder = try app(files)
        defer { try? FileManager.default.removeItem(at: folder) }
        // The host's PATH is empty: the image build must not look at this machine's toolchains.
        var request = BuildRequest(
            sourceDirectory: folder, appDirectory: folder, variables: variables, hostEnvironment: ["PATH": "/nonexistent"])
        request.trustedCertificates = certificates
        return try builder.prepareProviderImage(request, mise: mise)
    }

    @Test("a python app is planned for its image: Debian's python 3.11 satisfies .python-version 3.11, the venv under /app")
    func pythonImage() throws {
        let build = try Self.prepare(["main.py": "print('hi')\n", ".python-version": "3.11\n"])
        #expect(build.plan.provider == "python")
        let python = try #require(build.plan.toolchains.first { $0.name == "python" })
        #expect(python.available == true && python.matches == true, "\(python)")
        #expect(python.message == ".python-version asks for python 3.11; Debian 12's python3 3.11.2 satisfies it")
        let text = build.containerfile.text
        #expect(text.hasPrefix("FROM \(build.environment.imageName)\nWORKDIR /app\nCOPY . /app\n"), "\(text)")
        #expect(build.environment.imageName.hasPrefix("localhost/yard-env/python:"))
        #expect(text.contains(#"ENV PATH="/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin""#), "\(text)")
        #expect(
            text.contains(
                #"RUN --mount=type=secret,id=yard-variables --mount=type=cache,id=yard-cache-0,target=/root/.cache/pip ["/bin/sh","-c","set -e; export HOME=/root; . /run/secrets/yard-variables; python3 -m venv .venv"]"#),
            "\(text)")
        #expect(text.hasSuffix("ENTRYPOINT []\nCMD [\"/bin/sh\",\"-c\",\"python main.py\"]\n"), "\(text)")
        #expect(!text.contains("/nonexistent"), "the host's PATH leaked into the image:\n\(text)")
    }

    @Test("with the host's CA bundle, each step trusts it through a build secret; the image's text changes so the key does")
    func hostCertificates() throws {
        let files = ["main.py": "print('hi')\n", "requirements.txt": "flask\n"]
        let plain = try Self.prepare(files)
        let trusting = try Self.prepare(files, certificates: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt"))
        let text = trusting.containerfile.text
        #expect(text.contains("--mount=type=secret,id=yard-variables --mount=type=secret,id=yard-ca-certificates "), "\(text)")
        #expect(text.contains("export HOME=/root; export SSL_CERT_FILE=/run/secrets/yard-ca-certificates PIP_CERT=/run/secrets/yard-ca-certificates "))
        #expect(text.contains("NODE_EXTRA_CA_CERTS=/run/secrets/yard-ca-certificates; . /run/secrets/yard-variables; "))
        #expect(!plain.containerfile.text.contains("yard-ca-certificates"))
        #expect(plain.artifactKey != trusting.artifactKey)
        // The bundle is never copied into the image: only RUN lines mount it.
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("COPY") && $0.contains("ca-certificates") })
    }

    @Test("a version Debian 12 does not have fails before any step: the request, its file, the versions available and how to get one")
    func unavailableVersion() throws {
        let error = #expect(throws: YardError.self) {
            try Self.prepare(["main.py": "print('hi')\n", ".python-version": "3.13\n"])
        }
        let message = error?.message ?? ""
        #expect(
            message == ".python-version asks for python 3.13, which this machine cannot provide: mise cannot download here; "
                + "versions available: 3.11.2 (Debian 12 package python3); to get one: ask for a version 3.11.2 satisfies in .python-version, "
                + "deploy with a Dockerfile whose base image has python 3.13, or build where mise can download toolchains",
            "\(message)")
        #expect(error?.code == .buildFailed)
    }

    @Test("node 18 from .nvmrc is Debian's nodejs 18.20.4; go's go.mod 1.19 is golang-go 1.19.8 without cgo")
    func nodeAndGo() throws {
        let node = try Self.prepare([
            "package.json": #"{"name":"n","main":"server.js"}"#, "server.js": "", ".nvmrc": "18\n",
        ])
        #expect(node.plan.toolchains.first { $0.name == "node" }?.matches == true)
        #expect(node.environment.packages == ["ca-certificates", "nodejs"], "no dependencies, no npm script: no npm in the image")
        #expect(node.plan.startCommand == "node server.js")
        let withDependencies = try Self.prepare([
            "package.json": #"{"name":"n","dependencies":{"left-pad":"1.3.0"},"scripts":{"start":"node server.js"}}"#, "server.js": "",
        ])
        #expect(withDependencies.environment.packages == ["ca-certificates", "nodejs", "npm"])
        #expect(withDependencies.environment.imageName != node.environment.imageName)
        let go = try Self.prepare(["go.mod": "module example.com/web\n\ngo 1.19\n", "main.go": "package main\nfunc main() {}\n"])
        #expect(go.plan.toolchains.first { $0.name == "go" }?.message == "go.mod asks for go >=1.19; Debian 12's golang-go 1.19.8 satisfies it")
        #expect(go.containerfile.text.contains("ENV CGO_ENABLED=\"0\""), "\(go.containerfile.text)")
        #expect(go.containerfile.text.contains("go build"), "\(go.containerfile.text)")
        let newer = #expect(throws: YardError.self) {
            try Self.prepare(["go.mod": "module example.com/web\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n"])
        }
        #expect(newer?.message.hasPrefix("go.mod asks for go >=1.22, which this machine cannot provide") == true, "\(newer?.message ?? "")")
    }

    @Test("static sites are served by busybox in the image (the platform's binary is not there); shell apps need no packages")
    func staticAndShell() throws {
        let site = try Self.prepare(["Staticfile": "root: site\n", "site/index.html": "<p>hi</p>\n"])
        #expect(site.plan.startCommand == "busybox httpd -f -v -p $PORT -h site")
        #expect(site.environment.packages == ["busybox"])
        let shell = try Self.prepare(["start.sh": "echo hi\n"])
        #expect(shell.environment.imageName == ProviderEnvironment.debianBase, "no packages: Debian's image is the environment")
        #expect(shell.containerfile.text.hasPrefix("FROM docker.io/library/debian:bookworm-slim\n"))
    }

    @Test("railpack.json packages are version requests of the image build, not notes about this machine")
    func railpackPackages() throws {
        let folder = try Self.app(["main.py": "print('hi')\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let railpack = try RailpackConfig.parse(#"{"packages": {"python": "3.12"}}"#, fileName: "railpack.json")
        let request = BuildRequest(sourceDirectory: folder, appDirectory: folder, hostEnvironment: ["PATH": "/nonexistent"], railpack: railpack)
        let error = #expect(throws: YardError.self) { try Self.builder.prepareProviderImage(request) }
        #expect(error?.message.hasPrefix("railpack.json packages.python asks for python 3.12, which this machine cannot provide") == true, "\(error?.message ?? "")")
    }

    @Test("providers Debian 12 packages nothing for fail before any step, naming the toolchain")
    func noDebianPackage() throws {
        let error = #expect(throws: YardError.self) {
            try Self.prepare(["Package.swift": "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"a\", targets: [.executableTarget(name: \"a\")])\n", "Sources/a/main.swift": "print(1)\n"])
        }
        #expect(error?.message.contains("versions available: none (Debian 12 has no package for it)") == true, "\(error?.message ?? "")")
        #expect(ProviderEnvironment.debian12(provider: "swift") == nil)
        #expect(ProviderEnvironment.debian12(provider: "deno") == nil)
    }

    @Test("the environment image is content-addressed by its packages and installs them from Debian's mirror")
    func environmentImage() throws {
        let python = try #require(ProviderEnvironment.debian12(provider: "python"))
        var changed = python
        changed.packages.append("libpq-dev")
        #expect(python.imageName != changed.imageName)
        #expect(python.imageName == ProviderEnvironment.debian12(provider: "python")?.imageName)
        #expect(python.containerfile.contains("apt-get install -y --no-install-recommends ca-certificates python3 python3-pip python3-venv"))
        #expect(python.containerfile.hasPrefix("FROM docker.io/library/debian:bookworm-slim\n"))
    }

    @Test("variables reach the steps through one secret file, quoted for the shell; none is an ENV of the image")
    func variables() throws {
        let file = ProviderContainerfile.variablesFile(["TOKEN": "it's $secret", "BAD-NAME": "x", "A": ""])
        #expect(file == "export A=''\nexport TOKEN='it'\\''s $secret'\n")
        let build = try Self.prepare(["start.sh": "echo hi\n"], variables: ["TOKEN": "value-of-token"])
        #expect(!build.containerfile.text.contains("value-of-token"))
        #expect(ProviderContainerfile.quotedEnvironmentValue("a\"b$c\\d") == #""a\"b\$c\\d""#)
    }

    @Test("with mise able to download, a requested version is installed with mise into the shared store and put first on PATH")
    func miseInvocation() throws {
        let store = URL(fileURLWithPath: "/var/lib/yard/toolchains/mise")
        let mise = MiseInstaller(storeDirectory: store)
        let python = try #require(mise.invocation(tool: "python", version: "3.13"))
        #expect(python.arguments == ["mise", "install", "--yes", "--", "python@3.13"])
        #expect(python.environment["MISE_DATA_DIR"] == "/opt/yard/mise")
        #expect(python.installPath == "/opt/yard/mise/installs/python/3.13")
        #expect(python.storePath.path == "/var/lib/yard/toolchains/mise/installs/python/3.13")
        #expect(python.binPath == "/opt/yard/toolchains/python/bin")
        #expect(mise.invocation(tool: "go", version: "1.22.3")?.arguments.last == "go@1.22.3")
        #expect(mise.invocation(tool: "node", version: ">=18 <21") == nil, "a range is not a version mise installs")
        #expect(mise.invocation(tool: "node", version: "-rf") == nil)

        let build = try Self.prepare(["main.py": "print('hi')\n", ".python-version": "3.13\n"], mise: mise)
        let text = build.containerfile.text
        #expect(
            text.contains(
                #"RUN --mount=type=cache,id=yard-mise,target=/opt/yard/mise ["/bin/sh","-c","MISE_CACHE_DIR=/opt/yard/mise/cache MISE_DATA_DIR=/opt/yard/mise MISE_TRUSTED_CONFIG_PATHS='' MISE_YES=1 mise install --yes -- python@3.13 && mkdir -p /opt/yard/toolchains && cp -a /opt/yard/mise/installs/python/3.13 /opt/yard/toolchains/python"]"#),
            "\(text)")
        #expect(text.contains(#"ENV PATH="/opt/yard/toolchains/python/bin:/app/.venv/bin:"#), "\(text)")
        #expect(build.plan.toolchains.first?.message?.contains("installed with mise") == true)
    }
}
