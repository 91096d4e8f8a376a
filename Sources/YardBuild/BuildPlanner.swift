import Foundation
import YardConfig
import YardCore

/// Turns a source directory and a request's overrides into a `BuildPlan`, trying
/// providers in Railpack's order (first match wins). It only reads files: it runs no
/// process, so the host's toolchain versions come in through `hostVersions`.
struct BuildPlanner {
    let source: SourceTree
    let request: BuildRequest
    let platformExecutable: String
    /// The host's toolchain versions by `Toolchain.name` ("python", "node", "go"): the
    /// first line each toolchain's version command printed ("Python 3.11.7", "v20.20.2").
    /// The builder fills it after a first plan told it which toolchains to ask, then plans
    /// again; checks whose version is missing (engines.node, `packages`) are skipped.
    var hostVersions: [String: String] = [:]
    /// The plan is for a provider image build (`Builder.prepareProviderImage`): what runs
    /// comes from the environment image, not from this machine.
    var planningForImage = false

    /// One step of the plan and the phase it belongs to, so a failure can be explained.
    struct Step: Sendable, Equatable {
        enum Phase: Sendable, Equatable {
            /// Prepares the toolchain (creating the venv); kept when the install is overridden.
            case setup
            case install
            case build
            /// A `railpack.json` step other than install and build, by name; runs after build.
            case custom(String)
        }
        var command: String
        var phase: Phase
        /// What to tell the user when this step fails, beyond its exit status (for example
        /// that Maven Central may be unreachable from this machine).
        var failureHint: String? = nil
    }

    /// The plan plus what the builder needs to know about how it was decided.
    struct Outcome: Sendable, Equatable {
        var plan: BuildPlan
        var steps: [Step]
        /// The executable product the swift provider guessed from Package.swift, when its
        /// start command is the one used; the build confirms it with SwiftPM.
        var swiftExecutable: String?
        /// Arguments the swift start command passes after the product (Vapor's `serve …`);
        /// `swiftStartCommand(product:arguments:)` puts them back after confirming it.
        var swiftStartArguments: String? = nil
        /// Why the build must stop before any step: a toolchain this machine lacks, named
        /// with the version asked for and how to get it. The plan itself stands.
        var missingToolchain: String? = nil
    }

    /// A toolchain a provider needs, and when.
    struct ToolRequirement: Sendable, Equatable {
        var toolchain: Toolchain
        /// nil: always. `.install` / `.build`: only while that step's default commands run.
        var phase: Step.Phase?
        /// Why it is needed, when the provider name does not say ("for yarn.lock").
        var purpose: String?
        /// Said after the install command ("it comes from the npm registry …").
        var advice: String?

        init(_ toolchain: Toolchain, phase: Step.Phase? = nil, purpose: String? = nil, advice: String? = nil) {
            self.toolchain = toolchain
            self.phase = phase
            self.purpose = purpose
            self.advice = advice
        }
    }

    /// A provider's defaults, before any override is applied.
    struct ProviderPlan {
        var provider: String
        /// The file (or variable) that selected the provider, for the log.
        var detectedFrom: String
        /// True when railpack.json's `provider` chose it rather than detection.
        var forced = false
        var setupCommands: [String] = []
        var installCommands: [String] = []
        var buildCommands: [String] = []
        var startCommand: String?
        /// The swift provider's executable product, which `startCommand` runs.
        var swiftExecutable: String?
        var swiftStartArguments: String?
        /// What the user can add so the provider finds a start command.
        var startHint: String
        var environment: [String: String] = [:]
        var notes: [String] = []
        var cache: InstallCache?
        var tools: [ToolRequirement] = []
        var installFailureHint: String?
        var buildFailureHint: String?
        /// Version requirements the app states, checked against `hostVersions` as notes:
        /// (toolchain name, range, where it was written).
        var versionWishes: [(toolchain: String, range: String, origin: String)] = []

        init(provider: String, detectedFrom: String, startHint: String) {
            self.provider = provider
            self.detectedFrom = detectedFrom
            self.startHint = startHint
        }

        /// "detected golang from go.mod", or how railpack.json chose it.
        var detection: String {
            forced ? "railpack.json sets provider \(provider)" : "detected \(provider) from \(detectedFrom)"
        }
    }

    func plan() throws(YardError) -> Outcome {
        let detected = try detect()
        var notes = [detected.detection] + detected.notes
        let railpack = request.railpack

        // Install: RAILPACK_INSTALL_CMD replaces the provider's commands; railpack.json's
        // install step then replaces or ("...") extends whichever of them stands.
        var install = detected.installCommands
        var installDefaultsKept = true
        var cache = detected.cache
        if let command = variable("RAILPACK_INSTALL_CMD") {
            install = [command]
            installDefaultsKept = false
            cache = nil
            notes.append("install command from RAILPACK_INSTALL_CMD")
        }
        var paths: [String] = []
        if let step = railpack?.step(named: "install"), let commands = step.commands {
            let expanded = expand(commands, defaults: install)
            install = expanded.commands
            paths += expanded.paths
            if expanded.keptDefaults {
                notes.append("railpack.json steps.install extends the install commands (\"...\")")
                // Own commands next to the defaults may write anywhere: re-run them on a hit.
                if expanded.addedOwn { cache?.skipInstallOnHit = false }
            } else {
                notes.append("railpack.json steps.install replaces the install commands")
                installDefaultsKept = false
                cache = nil
            }
        }
        if install.isEmpty { cache = nil }

        // Build: build.buildCommand (service settings, railway.toml) or RAILPACK_BUILD_CMD
        // replace the provider's commands; railpack.json's build step works on the result.
        var build = detected.buildCommands
        var buildDefaultsKept = true
        if let command = nonEmpty(request.build.buildCommand) {
            build = [command]
            buildDefaultsKept = false
            notes.append("build command from build.buildCommand")
        } else if let command = variable("RAILPACK_BUILD_CMD") {
            build = [command]
            buildDefaultsKept = false
            notes.append("build command from RAILPACK_BUILD_CMD")
        }
        if let step = railpack?.step(named: "build"), let commands = step.commands {
            let expanded = expand(commands, defaults: build)
            build = expanded.commands
            paths += expanded.paths
            buildDefaultsKept = buildDefaultsKept && expanded.keptDefaults
            notes.append(
                expanded.keptDefaults
                    ? "railpack.json steps.build extends the build commands (\"...\")"
                    : "railpack.json steps.build replaces the build commands")
        }

        // Other railpack.json steps run after build, in file order.
        var customSteps: [Step] = []
        for step in railpack?.steps ?? [] where step.name != "install" && step.name != "build" {
            guard let commands = step.commands else { continue }
            let expanded = expand(commands, defaults: [])
            paths += expanded.paths
            customSteps += expanded.commands.map { Step(command: $0, phase: .custom(step.name)) }
            if !expanded.commands.isEmpty {
                notes.append("railpack.json step \(step.name) runs after the build")
            }
        }

        let start: String
        var swiftExecutable: String?
        var swiftStartArguments: String?
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
            swiftStartArguments = detected.swiftStartArguments
        } else {
            throw YardError(
                .buildFailed,
                "\(detected.detection), but found no start command: "
                    + "\(detected.startHint), add a Procfile with a web: line, or set deploy.startCommand"
            )
        }

        var environment = detected.environment
        if let railpack {
            for step in railpack.steps where !step.variables.isEmpty {
                environment.merge(step.variables) { $1 }
                notes.append(
                    "railpack.json steps.\(step.name) sets \(step.variables.keys.sorted().joined(separator: ", ")) "
                        + "for the build and the app")
            }
            paths += railpack.deploy?.paths.map(absolutePath) ?? []
        }
        if !paths.isEmpty {
            environment["PATH"] = (paths + [environment["PATH"] ?? hostPath]).joined(separator: ":")
            notes.append("railpack.json adds \(paths.joined(separator: ", ")) to PATH")
        }

        // An image build resolves versions itself (`ToolchainResolver`): the host's do not matter.
        notes += (planningForImage ? [] : versionNotes(detected)) + railpackNotes()

        // Toolchains of default commands the user replaced are not needed.
        let tools = detected.tools.filter { requirement in
            switch requirement.phase {
            case .install?: installDefaultsKept && !install.isEmpty
            case .build?: buildDefaultsKept && !build.isEmpty
            default: true
            }
        }
        // A missing toolchain does not stop the plan: it is reported, and fails the build.
        var toolchains: [Toolchain] = []
        var missingToolchain: String?
        for tool in tools where !toolchains.contains(where: { $0.name == tool.toolchain.name }) {
            let status = toolchainStatus(tool, detected: detected)
            missingToolchain = missingToolchain ?? missingMessage(tool, status: status, detected: detected)
            toolchains.append(status)
        }

        var secrets = Set(request.secretNames)
        if let railpack {
            secrets.formUnion(railpack.secrets)
            for step in railpack.steps { secrets.formUnion(step.secrets.filter { $0 != "*" }) }
        }

        let steps =
            detected.setupCommands.map { Step(command: $0, phase: .setup) }
            + install.map { Step(command: $0, phase: .install, failureHint: detected.installFailureHint) }
            + build.map { Step(command: $0, phase: .build, failureHint: detected.buildFailureHint) }
            + customSteps
        let plan = BuildPlan(
            provider: detected.provider,
            installCommands: detected.setupCommands + install,
            buildCommands: build + customSteps.map(\.command),
            startCommand: start,
            environment: environment,
            notes: notes,
            detectedFrom: detected.detectedFrom,
            cache: cache,
            toolchains: toolchains,
            secrets: secrets.sorted()
        )
        return Outcome(
            plan: plan, steps: steps, swiftExecutable: swiftExecutable, swiftStartArguments: swiftStartArguments,
            missingToolchain: missingToolchain)
    }

    // MARK: Toolchains

    /// The executable's path on the host's PATH, like `command -v`; nil when missing.
    func findExecutable(_ name: String) -> String? {
        for directory in hostPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The host's version of a toolchain, from `hostVersions`.
    func hostVersion(of toolchain: String) -> ToolVersion? {
        hostVersions[toolchain].flatMap { ToolVersion(firstIn: $0) }
    }

    /// Notes for versions the app asks for that this machine does not have: the build
    /// always uses the host's toolchains.
    private func versionNotes(_ detected: ProviderPlan) -> [String] {
        var notes: [String] = []
        for wish in detected.versionWishes {
            guard let host = hostVersion(of: wish.toolchain) else { continue }
            if let range = VersionRange(wish.range), range.contains(host) { continue }
            notes.append("\(wish.origin) asks \(wish.toolchain) \(wish.range); this machine has \(host) — building with \(host)")
        }
        for key in request.variables.keys.sorted() where key.hasPrefix("RAILPACK_") {
            // Values are not echoed: any variable may hold something private.
            if key.hasSuffix("_VERSION") {
                let language = Self.toolchainName(forPackage: String(key.dropFirst("RAILPACK_".count).dropLast("_VERSION".count)))
                let host = hostVersion(of: language).map { "this machine's \(language) \($0)" } ?? "the toolchains installed on this machine"
                notes.append("\(key) is not honoured: the build uses \(host)")
            } else if key == "RAILPACK_PACKAGES" {
                notes.append("RAILPACK_PACKAGES is not honoured: the build uses the toolchains installed on this machine")
            } else if key == "RAILPACK_BUILD_APT_PACKAGES" || key == "RAILPACK_DEPLOY_APT_PACKAGES" {
                notes.append("\(key) is not installed per build: this machine's packages are used")
            }
        }
        return notes
    }

    /// railpack.json settings Switchyard reads but does not act on per build.
    private func railpackNotes() -> [String] {
        guard let railpack = request.railpack else { return [] }
        var notes: [String] = []
        // An image build resolves `packages` as version requests (`ToolchainResolver`).
        for name in railpack.packages.keys.sorted() where !planningForImage {
            let wanted = railpack.packages[name] ?? ""
            let toolchain = Self.toolchainName(forPackage: name)
            guard let host = hostVersion(of: toolchain) else {
                notes.append("railpack.json asks \(name) \(wanted): packages are not installed per build; the build uses this machine's \(name)")
                continue
            }
            if wanted == "latest" || wanted == "*" || VersionRange(wanted)?.contains(host) == true { continue }
            notes.append("railpack.json asks \(name) \(wanted); this machine has \(host) — building with \(host)")
        }
        // An image build installs them into its environment (`ProviderEnvironment+AptPackages`).
        if !railpack.buildAptPackages.isEmpty, !planningForImage {
            notes.append(
                "railpack.json buildAptPackages (\(railpack.buildAptPackages.joined(separator: ", "))) are not installed per build: "
                    + "this machine's packages are used")
        }
        if let apt = railpack.deploy?.aptPackages, !apt.isEmpty, !planningForImage {
            notes.append(
                "railpack.json deploy.aptPackages (\(apt.joined(separator: ", "))) are not installed per build: "
                    + "this machine's packages are used")
        }
        return notes
    }

    /// Railpack's (mise's) package names mapped to toolchain names.
    static func toolchainName(forPackage name: String) -> String {
        switch name.lowercased() {
        case "golang": "go"
        case "nodejs": "node"
        case "jdk": "java"
        case "cargo": "rust"
        case let other: other
        }
    }

    // MARK: railpack.json commands

    struct ExpandedCommands {
        var commands: [String] = []
        /// Directories `{"path": …}` adds to PATH, absolute.
        var paths: [String] = []
        /// The list held `"..."`, so the provider's commands are in it.
        var keptDefaults = false
        /// The list held commands of the user's own (commands or copies).
        var addedOwn = false
    }

    func expand(_ commands: [RailpackCommand], defaults: [String]) -> ExpandedCommands {
        var result = ExpandedCommands()
        for command in commands {
            switch command {
            case .exec(let line):
                result.commands.append(line)
                result.addedOwn = true
            case .extend:
                result.commands += defaults
                result.keptDefaults = true
            case .path(let directory):
                result.paths.append(absolutePath(directory))
            case .copy(let source, let destination):
                result.commands.append("cp -R -- \(source.shellQuoted) \(destination.shellQuoted)")
                result.addedOwn = true
            }
        }
        return result
    }

    /// A railpack.json path as steps and the app see it: relative ones are inside the app.
    private func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        if relative.isEmpty || relative == "." { return appPath }
        return appPath + "/" + relative
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

    /// The host's PATH, which build steps start from and toolchains are looked up on.
    var hostPath: String {
        nonEmpty(request.hostEnvironment["PATH"]) ?? "/usr/local/bin:/usr/bin:/bin"
    }

    /// PATH for build steps and the app: `directories` first, then the host's PATH.
    func path(prepending directories: [String]) -> String {
        (directories + [hostPath]).joined(separator: ":")
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
