import Foundation
import YardConfig
import YardCore

/// Turns a source directory and a request's overrides into a `BuildPlan`, trying
/// providers in Railpack's order (first match wins). It only reads files.
struct BuildPlanner {
    let source: SourceTree
    let request: BuildRequest
    let platformExecutable: String

    /// One step of the plan and the phase it belongs to, so a failure can be explained.
    struct Step: Sendable, Equatable {
        enum Phase: Sendable, Equatable {
            /// Prepares the toolchain (creating the venv); kept when the install is overridden.
            case setup
            case install
            case build
        }
        var command: String
        var phase: Phase
    }

    /// The plan plus what the builder needs to know about how it was decided.
    struct Outcome: Sendable, Equatable {
        var plan: BuildPlan
        var steps: [Step]
        /// The executable product the swift provider guessed from Package.swift, when its
        /// start command is the one used; the build confirms it with SwiftPM.
        var swiftExecutable: String?
    }

    /// A provider's defaults, before any override is applied.
    struct ProviderPlan {
        var provider: String
        /// The file (or variable) that selected the provider, for the log.
        var detectedFrom: String
        var setupCommands: [String] = []
        var installCommands: [String] = []
        var buildCommands: [String] = []
        var startCommand: String?
        /// The swift provider's executable product, which `startCommand` runs.
        var swiftExecutable: String?
        /// What the user can add so the provider finds a start command.
        var startHint: String
        var environment: [String: String] = [:]
        var notes: [String] = []
    }

    func plan() throws(YardError) -> Outcome {
        let detected = try detect()
        var notes = ["detected \(detected.provider) from \(detected.detectedFrom)"] + detected.notes

        var install = detected.installCommands
        if let command = variable("RAILPACK_INSTALL_CMD") {
            install = [command]
            notes.append("install command from RAILPACK_INSTALL_CMD")
        }

        var build = detected.buildCommands
        if let command = nonEmpty(request.build.buildCommand) {
            build = [command]
            notes.append("build command from build.buildCommand")
        } else if let command = variable("RAILPACK_BUILD_CMD") {
            build = [command]
            notes.append("build command from RAILPACK_BUILD_CMD")
        }

        let start: String
        var swiftExecutable: String?
        if let command = nonEmpty(request.startCommand) {
            start = command
            notes.append("start command from deploy.startCommand")
        } else if let command = variable("RAILPACK_START_CMD") {
            start = command
            notes.append("start command from RAILPACK_START_CMD")
        } else if let command = try procfileWeb() {
            start = command
            notes.append("start command from the Procfile's web: line")
        } else if let command = detected.startCommand {
            start = command
            swiftExecutable = detected.swiftExecutable
        } else {
            throw YardError(
                .buildFailed,
                "detected \(detected.provider) from \(detected.detectedFrom), but found no start command: "
                    + "\(detected.startHint), add a Procfile with a web: line, or set deploy.startCommand"
            )
        }

        for key in request.variables.keys.sorted() where key.hasPrefix("RAILPACK_") {
            if key.hasSuffix("_VERSION") || key == "RAILPACK_PACKAGES" {
                notes.append("\(key) is not honoured yet: the build uses the toolchains installed on this machine")
            }
        }

        let steps =
            detected.setupCommands.map { Step(command: $0, phase: .setup) }
            + install.map { Step(command: $0, phase: .install) }
            + build.map { Step(command: $0, phase: .build) }
        let plan = BuildPlan(
            provider: detected.provider,
            installCommands: detected.setupCommands + install,
            buildCommands: build,
            startCommand: start,
            environment: detected.environment,
            notes: notes
        )
        return Outcome(plan: plan, steps: steps, swiftExecutable: swiftExecutable)
    }

    // MARK: Detection order

    /// Railpack providers Switchyard cannot build yet, each with the files that select it.
    /// They keep their place in the order so such an app fails clearly instead of being
    /// built by a later provider that merely matches a stray file.
    private struct UnsupportedLanguage {
        var name: String
        /// Root entry names; a leading or trailing `*` matches any suffix or prefix.
        var markers: [String]

        func match(in entries: [String]) -> String? {
            for marker in markers {
                let hit = entries.first { entry in
                    if marker.hasPrefix("*") { return entry.hasSuffix(marker.dropFirst()) }
                    if marker.hasSuffix("*") { return entry.hasPrefix(marker.dropLast()) }
                    return entry == marker
                }
                if let hit { return hit }
            }
            return nil
        }
    }

    private static let unsupportedBeforePython: [UnsupportedLanguage] = [
        UnsupportedLanguage(name: "php", markers: ["index.php", "composer.json"]),
        UnsupportedLanguage(name: "golang", markers: ["go.mod", "go.work", "main.go"]),
        UnsupportedLanguage(name: "java", markers: ["pom.*", "gradlew"]),
        UnsupportedLanguage(name: "rust", markers: ["Cargo.toml"]),
        UnsupportedLanguage(name: "ruby", markers: ["Gemfile"]),
        UnsupportedLanguage(name: "elixir", markers: ["mix.exs"]),
    ]
    private static let unsupportedBeforeNode: [UnsupportedLanguage] = [
        UnsupportedLanguage(name: "deno", markers: ["deno.json", "deno.jsonc"]),
        UnsupportedLanguage(name: "dotnet", markers: ["*.csproj"]),
    ]
    private static let unsupportedBeforeStaticfile: [UnsupportedLanguage] = [
        UnsupportedLanguage(name: "gleam", markers: ["gleam.toml"]),
        UnsupportedLanguage(name: "cpp", markers: ["CMakeLists.txt", "meson.build"]),
    ]

    private func detect() throws(YardError) -> ProviderPlan {
        let entries = try source.entries()
        try rejectUnsupported(Self.unsupportedBeforePython, entries: entries)
        if let plan = python() { return plan }
        // Switchyard's own provider; Railpack has none for Swift.
        if let plan = try swift() { return plan }
        try rejectUnsupported(Self.unsupportedBeforeNode, entries: entries)
        if let plan = try node() { return plan }
        try rejectUnsupported(Self.unsupportedBeforeStaticfile, entries: entries)
        if let plan = try staticfile() { return plan }
        if let plan = try shell() { return plan }
        throw YardError(
            .buildFailed,
            "could not detect how to build this app: looked for python (\(Self.pythonMarkers.joined(separator: ", "))), "
                + "swift (Package.swift), node (package.json), static files (Staticfile, public/, index.html) "
                + "and shell (start.sh) at the root of the source; add one of them, or set RAILPACK_STATIC_FILE_ROOT "
                + "or RAILPACK_SHELL_SCRIPT"
        )
    }

    private func rejectUnsupported(_ languages: [UnsupportedLanguage], entries: [String]) throws(YardError) {
        for language in languages {
            if let file = language.match(in: entries) {
                throw YardError(
                    .buildFailed,
                    "detected \(language.name) from \(file), but the \(language.name) provider is not supported yet"
                )
            }
        }
    }

    // MARK: Helpers shared by the providers

    /// A `RAILPACK_*` setting from the service variables; blank counts as unset.
    func variable(_ name: String) -> String? {
        nonEmpty(request.variables[name])
    }

    func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return value
    }

    /// PATH for build steps and the app: `directories` first, then the host's PATH.
    func path(prepending directories: [String]) -> String {
        let hostPath = nonEmpty(request.hostEnvironment["PATH"]) ?? "/usr/local/bin:/usr/bin:/bin"
        return (directories + [hostPath]).joined(separator: ":")
    }

    /// Where steps and the app see the app directory (`/app` in the sandbox).
    var appPath: String { request.mountPath ?? request.appDirectory.standardizedFileURL.path }

    private func procfileWeb() throws(YardError) -> String? {
        if let command = nonEmpty(request.procfileWeb) { return command }
        guard source.isFile("Procfile") else { return nil }
        // The same parser as the config loader, so both read a Procfile alike.
        return try YardConfig.Procfile.parse(try source.text("Procfile")).web
    }
}
