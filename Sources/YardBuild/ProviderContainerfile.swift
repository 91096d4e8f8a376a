import Foundation
import YardCore

/// The Containerfile of a provider build: the provider's environment image, the app copied
/// to `/app`, each install and build step as a `RUN` with the provider's caches as cache
/// mounts and the service's variables from a build secret (never in the image or its
/// history), and the plan's start command as the image's command.
public struct ProviderContainerfile: Sendable, Equatable {
    /// The build secret holding the service's variables as `export NAME='value'` lines.
    public static let variablesSecret = "yard-variables"
    /// The build secret holding this machine's CA certificates (`hostCertificates`).
    public static let certificatesSecret = "yard-ca-certificates"
    /// Where mise-installed toolchains are copied in the image.
    public static let toolchainsDirectory = "/opt/yard/toolchains"

    public var base: String
    /// The image's environment (and the steps'): the plan's and the environment's.
    public var environment: [String: String]
    /// Folders under `/root` kept between builds as cache mounts.
    public var cacheFolders: [String]
    public var miseInstalls: [MiseInstaller.Invocation]
    /// The plan's steps, in order.
    public var steps: [String]
    public var startCommand: String
    /// How many of the first `steps` are the install (setup and install commands that read
    /// only `installFiles`, the plan's cache keys): built as an image of their own, reused
    /// while those files, the environment and the variables stay the same. 0: none.
    public var installStepCount = 0
    /// The app's files the install steps read (the plan's cache key files that exist).
    public var installFiles: [String] = []
    /// This machine's CA bundle, which the steps trust as this machine's own tools do (a
    /// network whose TLS proxy only the host trusts still reaches package indexes). It
    /// reaches the steps as a build secret: nothing of it is left in the image.
    public var hostCertificates: URL?

    /// The ids of the cache mounts, in `--mount=type=cache,id=…`.
    public var cacheMountIDs: [String] {
        cacheFolders.indices.map { "yard-cache-\($0)" } + (miseInstalls.isEmpty ? [] : ["yard-mise"])
    }

    /// The image's `ENV`: the environment, with mise's toolchains first on PATH.
    public var imageEnvironment: [String: String] {
        var environment = environment.filter { Self.isVariableName($0.key) }
        if !miseInstalls.isEmpty {
            let bins = miseInstalls.map(\.binPath).joined(separator: ":")
            environment["PATH"] = bins + ":" + (environment["PATH"] ?? ProviderEnvironment.imagePath)
        }
        return environment
    }

    /// The whole build in one file (what the artifact key hashes).
    public var text: String { text(from: nil) }

    /// The app's build: from `installImage` (the install steps' image) when given, with the
    /// steps after the install only; else from the environment with every step.
    public func text(from installImage: String?) -> String {
        var lines = ["FROM \(installImage ?? base)", "WORKDIR /app", "COPY . /app"] + environmentLines
        if installImage == nil { lines += miseLines }
        lines += (installImage == nil ? steps : Array(steps.dropFirst(installStepCount))).map(runLine)
        // The start command replaces this when a service sets one, as on Railway.
        lines.append("ENTRYPOINT []")
        lines.append("CMD " + Self.execForm(["/bin/sh", "-c", startCommand]))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The install steps' own build: only `installFiles` copied, then mise and the install
    /// steps; nil when the plan has no install that reads only its cache key files.
    public var installText: String? {
        guard installStepCount > 0 else { return nil }
        var lines = ["FROM \(base)", "WORKDIR /app"]
        lines += installFiles.map { "COPY " + Self.execForm([$0, "/app/" + $0]) }
        lines += environmentLines + miseLines + steps.prefix(installStepCount).map(runLine)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `RUN` commands of `text(from:)` (or of `installText` when `install`), to name a failing one.
    public func runCommands(install: Bool, fromInstallImage: Bool) -> [String] {
        let mise = miseInstalls.map { $0.arguments.joined(separator: " ") }
        if install { return mise + Array(steps.prefix(installStepCount)) }
        return fromInstallImage ? Array(steps.dropFirst(installStepCount)) : mise + steps
    }

    private var environmentLines: [String] {
        let environment = imageEnvironment
        return environment.keys.sorted().map { "ENV \($0)=\(Self.quotedEnvironmentValue(environment[$0] ?? ""))" }
    }

    private var miseLines: [String] {
        miseInstalls.map { install in
            let assignments = install.environment.keys.sorted().map { "\($0)=\((install.environment[$0] ?? "").shellQuoted)" }
            let command =
                (assignments + install.arguments.map(\.shellQuoted)).joined(separator: " ")
                + " && mkdir -p \(Self.toolchainsDirectory) && cp -a \(install.installPath.shellQuoted) \(install.imagePath.shellQuoted)"
            return "RUN --mount=type=cache,id=yard-mise,target=\(MiseInstaller.mountPoint) \(Self.execForm(["/bin/sh", "-c", command]))"
        }
    }

    private func runLine(_ step: String) -> String {
        let caches = cacheFolders.enumerated().map { index, folder in
            "--mount=type=cache,id=yard-cache-\(index),target=/root/\(folder)"
        }
        var secrets = ["--mount=type=secret,id=\(Self.variablesSecret)"]
        var trust = ""
        if hostCertificates != nil {
            secrets.append("--mount=type=secret,id=\(Self.certificatesSecret)")
            let bundle = "/run/secrets/\(Self.certificatesSecret)"
            trust = ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"]
                .map { "\($0)=\(bundle)" }.joined(separator: " ")
            trust = "export \(trust); "
        }
        // The variables come last, as in folder builds: a service may set PATH on purpose.
        let script = "set -e; export HOME=/root; \(trust). /run/secrets/\(Self.variablesSecret); \(step)"
        return "RUN " + (secrets + caches).joined(separator: " ") + " " + Self.execForm(["/bin/sh", "-c", script])
    }

    /// The variables file the steps source: `export NAME='value'` for each shell-usable name.
    public static func variablesFile(_ variables: [String: String]) -> String {
        variables.keys.sorted().filter(isVariableName).map { "export \($0)=\((variables[$0] ?? "").shellQuoted)\n" }.joined()
    }

    /// A JSON array: the exec form, in which nothing is expanded by the Dockerfile parser.
    public static func execForm(_ words: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: words, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func isVariableName(_ name: String) -> Bool {
        name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil
    }

    /// `"value"` with `\`, `"` and `$` escaped: ENV values are taken literally.
    static func quotedEnvironmentValue(_ value: String) -> String {
        var quoted = "\""
        for character in value {
            switch character {
            case "\\", "\"", "$": quoted += "\\" + String(character)
            // A Containerfile line cannot hold a newline.
            case "\n": quoted += " "
            default: quoted.append(character)
            }
        }
        return quoted + "\""
    }
}
