import Foundation
import YardCore

/// The Containerfile of a provider build: the provider's environment image, the app copied
/// to `/app`, each install and build step as a `RUN` with the provider's caches as cache
/// mounts and the service's variables from a build secret (never in the image or its
/// history), and the plan's start command as the image's command.
public struct ProviderContainerfile: Sendable, Equatable {
    /// The build secret holding the service's variables as `export NAME='value'` lines.
    public static let variablesSecret = "yard-variables"
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

    /// The `RUN` commands in order (mise installs first), to name a failing one.
    public var runCommands: [String] { miseInstalls.map { $0.arguments.joined(separator: " ") } + steps }

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

    public var text: String {
        var lines = ["FROM \(base)", "WORKDIR /app", "COPY . /app"]
        let environment = imageEnvironment
        for name in environment.keys.sorted() {
            lines.append("ENV \(name)=\(Self.quotedEnvironmentValue(environment[name] ?? ""))")
        }
        let caches = cacheFolders.enumerated().map { index, folder in
            "--mount=type=cache,id=yard-cache-\(index),target=/root/\(folder)"
        }
        let secret = "--mount=type=secret,id=\(Self.variablesSecret)"
        for install in miseInstalls {
            let assignments = install.environment.keys.sorted().map { "\($0)=\((install.environment[$0] ?? "").shellQuoted)" }
            let command =
                (assignments + install.arguments.map(\.shellQuoted)).joined(separator: " ")
                + " && mkdir -p \(Self.toolchainsDirectory) && cp -a \(install.installPath.shellQuoted) \(install.imagePath.shellQuoted)"
            lines.append("RUN --mount=type=cache,id=yard-mise,target=\(MiseInstaller.mountPoint) \(Self.execForm(["/bin/sh", "-c", command]))")
        }
        for step in steps {
            // The variables come last, as in folder builds: a service may set PATH on purpose.
            let script = "set -e; export HOME=/root; . /run/secrets/\(Self.variablesSecret); \(step)"
            lines.append("RUN " + ([secret] + caches).joined(separator: " ") + " " + Self.execForm(["/bin/sh", "-c", script]))
        }
        // The start command replaces this when a service sets one, as on Railway.
        lines.append("ENTRYPOINT []")
        lines.append("CMD " + Self.execForm(["/bin/sh", "-c", startCommand]))
        return lines.joined(separator: "\n") + "\n"
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
