import Foundation
import YardCore

/// The versions an app asks for and where each was written, and whether this machine can
/// provide them. Planning only reads files: a toolchain this machine lacks is reported in
/// the plan (`Toolchain.available`), and the build fails on it before any step.
extension BuildPlanner {
    /// A version an app asks for, as written, and the file or variable it came from.
    struct VersionRequest: Sendable, Equatable {
        var version: String
        var source: String
    }

    /// The version requested for `toolchain`, first found wins: `RAILPACK_<NAME>_VERSION`,
    /// railpack.json `packages`, the provider's own files, mise.toml, .tool-versions.
    func versionRequest(for toolchain: String, detected: ProviderPlan) -> VersionRequest? {
        for key in request.variables.keys.sorted() where key.hasPrefix("RAILPACK_") && key.hasSuffix("_VERSION") {
            let package = String(key.dropFirst("RAILPACK_".count).dropLast("_VERSION".count))
            guard Self.toolchainName(forPackage: package) == toolchain, let value = variable(key) else { continue }
            // Only a version-shaped value of a variable that is not secret is shown.
            let shown =
                Self.looksLikeVersion(value) && !request.secretNames.contains(key)
                ? value.trimmingCharacters(in: .whitespaces) : "(set, not shown)"
            return VersionRequest(version: shown, source: key)
        }
        if let packages = request.railpack?.packages {
            for name in packages.keys.sorted() where Self.toolchainName(forPackage: name) == toolchain {
                if let wanted = nonEmpty(packages[name]) {
                    return VersionRequest(version: wanted, source: "\(request.railpack?.fileName ?? "railpack.json") packages.\(name)")
                }
            }
        }
        if let wish = detected.versionWishes.first(where: { $0.toolchain == toolchain }) {
            return VersionRequest(version: wish.range, source: wish.origin)
        }
        if let found = providerVersionFiles(detected.provider).first(where: { $0.toolchain == toolchain }) {
            return found.request
        }
        return miseVersion(for: toolchain) ?? toolVersionsEntry(for: toolchain)
    }

    /// "3.12", ">=1.22", "~> 1.15", "lts/*", "latest": what a version request looks like.
    static func looksLikeVersion(_ value: String) -> Bool {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.count <= 40 && trimmed.wholeMatch(of: /[0-9A-Za-z.*^~<>=|\/ +-]+/) != nil
    }

    // MARK: Files each provider reads

    /// Version files beyond the provider's `versionWishes`, in the order they count.
    func providerVersionFiles(_ provider: String) -> [(toolchain: String, request: VersionRequest)] {
        var found: [(toolchain: String, request: VersionRequest)] = []
        func add(_ toolchain: String, _ version: String?, _ source: String) {
            guard let version = version?.trimmingCharacters(in: .whitespacesAndNewlines), !version.isEmpty,
                Self.looksLikeVersion(version)
            else { return }
            found.append((toolchain, VersionRequest(version: version, source: source)))
        }
        switch provider {
        case "node":
            add("node", firstLine(".nvmrc"), ".nvmrc")
            add("node", firstLine(".node-version"), ".node-version")
            if let package = try? readPackageJSON() {
                add("node", package.engines?["node"], "package.json engines.node")
                if let field = package.packageManager {
                    let parts = field.split(separator: "@", maxSplits: 1)
                    if parts.count == 2 {
                        // "yarn@4.1.0+sha512.…": the hash is not part of the version.
                        let version = parts[1].split(separator: "+").first.map(String.init)
                        add(String(parts[0]), version, "package.json packageManager")
                    }
                }
                add("bun", package.engines?["bun"], "package.json engines.bun")
            }
        case "python":
            if let pipfile = try? TOMLDocument.parse(source, "Pipfile") {
                add("python", pipfile.table("requires")?.string("python_version"), "Pipfile python_version")
                add("python", pipfile.table("requires")?.string("python_full_version"), "Pipfile python_full_version")
            }
        case "ruby":
            add("ruby", firstLine(".ruby-version").map { $0.replacingOccurrences(of: "ruby-", with: "") }, ".ruby-version")
            if let line = source.optionalText("Gemfile")?.firstMatch(of: /(?m)^\s*ruby\s+["']([^"']+)["']/) {
                add("ruby", String(line.1), "Gemfile ruby")
            }
        case "php":
            if let data = try? source.data("composer.json"),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let require = object["require"] as? [String: Any]
            {
                add("php", require["php"] as? String, "composer.json require.php")
            }
        case "golang":
            if let line = source.optionalText("go.mod")?.firstMatch(of: /(?m)^toolchain\s+go(\d+(?:\.\d+){0,2})\s*$/) {
                add("go", String(line.1), "go.mod toolchain")
            }
        case "rust":
            if let toolchain = try? TOMLDocument.parse(source, "rust-toolchain.toml") {
                add("rust", toolchain.table("toolchain")?.string("channel"), "rust-toolchain.toml")
            }
            add("rust", firstLine("rust-toolchain"), "rust-toolchain")
        case "java":
            if let line = source.optionalText("system.properties")?.firstMatch(of: /(?m)^\s*java\.runtime\.version\s*=\s*(\S+)/) {
                add("java", String(line.1), "system.properties java.runtime.version")
            }
            add("java", firstLine(".java-version"), ".java-version")
        case "elixir":
            if let line = source.optionalText("mix.exs")?.firstMatch(of: /elixir:\s*"([^"]+)"/) {
                add("elixir", String(line.1), "mix.exs elixir")
            }
            add("elixir", firstLine(".elixir-version"), ".elixir-version")
            add("erlang", firstLine(".erlang-version"), ".erlang-version")
        case "deno":
            add("deno", firstLine(".dvmrc"), ".dvmrc")
        case "dotnet":
            if let data = try? source.data("global.json"),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let sdk = object["sdk"] as? [String: Any]
            {
                add("dotnet", sdk["version"] as? String, "global.json sdk.version")
            }
            let projects = ((try? source.entries()) ?? []).filter { $0.hasSuffix(".csproj") }.sorted()
            for project in projects {
                if let match = source.optionalText(project)?.firstMatch(of: /<TargetFramework>net(\d+\.\d+)<\/TargetFramework>/) {
                    add("dotnet", String(match.1), "\(project) TargetFramework")
                }
            }
        case "gleam":
            if let manifest = try? TOMLDocument.parse(source, "gleam.toml") {
                add("gleam", manifest.string("gleam"), "gleam.toml gleam")
            }
        case "swift":
            add("swift", firstLine(".swift-version"), ".swift-version")
            if let line = source.optionalText("Package.swift")?.firstMatch(of: /swift-tools-version\s*:\s*(\d+(?:\.\d+){0,2})/) {
                add("swift", ">=\(line.1)", "Package.swift swift-tools-version")
            }
        case "cpp":
            if let line = source.optionalText("CMakeLists.txt")?.firstMatch(
                of: /cmake_minimum_required\s*\(\s*VERSION\s+(\d+(?:\.\d+){0,2})/)
            {
                add("cmake", ">=\(line.1)", "CMakeLists.txt cmake_minimum_required")
            }
        default:
            break
        }
        return found
    }

    private func firstLine(_ path: String) -> String? {
        source.optionalText(path)?.split(whereSeparator: \.isNewline).first.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }

    // MARK: mise

    /// The names mise (and asdf's .tool-versions) give a toolchain.
    static func miseNames(for toolchain: String) -> [String] {
        switch toolchain {
        case "go": ["go", "golang"]
        case "node": ["node", "nodejs"]
        case "java": ["java", "jdk"]
        default: [toolchain]
        }
    }

    /// `[tools]` of mise.toml (or .mise.toml): `python = "3.12"`, `node = ["20", "18"]`,
    /// `go = { version = "1.22" }`.
    func miseVersion(for toolchain: String) -> VersionRequest? {
        for file in ["mise.toml", ".mise.toml"] where source.isFile(file) {
            guard let tools = (try? TOMLDocument.parse(source, file))?.table("tools") else { continue }
            for name in Self.miseNames(for: toolchain) {
                let version = tools.string(name) ?? tools.strings(name).first ?? tools.table(name)?.string("version")
                if let version, Self.looksLikeVersion(version) {
                    return VersionRequest(version: version, source: "\(file) tools.\(name)")
                }
            }
        }
        return nil
    }

    /// A `.tool-versions` line: `python 3.12.1` (the first version listed counts).
    func toolVersionsEntry(for toolchain: String) -> VersionRequest? {
        guard let text = source.optionalText(".tool-versions") else { return nil }
        let names = Self.miseNames(for: toolchain)
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count >= 2, names.contains(words[0]), Self.looksLikeVersion(words[1]) else { continue }
            return VersionRequest(version: words[1], source: ".tool-versions")
        }
        return nil
    }

    // MARK: What this machine has

    /// The toolchain as the plan reports it: the version asked for and its source, whether
    /// this machine has it, whether its version (when known) satisfies the request.
    func toolchainStatus(_ tool: ToolRequirement, detected: ProviderPlan) -> Toolchain {
        var toolchain = tool.toolchain
        let wanted = versionRequest(for: toolchain.name, detected: detected)
        toolchain.requested = wanted?.version
        toolchain.source = wanted?.source
        toolchain.available = findExecutable(toolchain.executable) != nil
        let host = hostVersion(of: toolchain.name)
        if let wanted, let host, let range = VersionRange(Self.rangeText(wanted.version)) {
            toolchain.matches = range.contains(host)
        }
        let asked = wanted.map { Self.describe($0, toolchain: toolchain.name) }
        if toolchain.available != true {
            toolchain.message =
                (asked.map { "\($0); " } ?? "")
                + "\(toolchain.executable) is not installed on this machine, so no version is available here: "
                + "the build fails before any step; install it with `\(toolchain.installHint)`"
        } else if let host {
            switch (asked, toolchain.matches) {
            case (let asked?, true?): toolchain.message = "\(asked); this machine's \(host) satisfies it"
            case (let asked?, false?): toolchain.message = "\(asked); this machine has \(host): building with \(host)"
            case (let asked?, nil): toolchain.message = "\(asked) (not a range Switchyard compares); this machine has \(host)"
            case (nil, _): toolchain.message = "building with this machine's \(toolchain.name) \(host)"
            }
        } else {
            toolchain.message = (asked.map { "\($0); " } ?? "") + "\(toolchain.executable) is installed on this machine"
        }
        return toolchain
    }

    /// "go.mod asks for go >=1.22"; a variable's value stays out of messages and logs
    /// (the plan's `requested` field shows it when it looks like a version).
    static func describe(_ wanted: VersionRequest, toolchain: String) -> String {
        wanted.source.hasPrefix("RAILPACK_")
            ? "\(wanted.source) asks for a \(toolchain) version" : "\(wanted.source) asks for \(toolchain) \(wanted.version)"
    }

    /// A request as VersionRange reads it ("lts/*" and "stable" are not ranges).
    static func rangeText(_ version: String) -> String {
        version.trimmingCharacters(in: .whitespaces)
    }

    /// Why the build must stop before any step for `tool`, or nil when it is installed.
    func missingMessage(_ tool: ToolRequirement, status: Toolchain, detected: ProviderPlan) -> String? {
        guard status.available != true else { return nil }
        let what = tool.purpose.map { "\(tool.toolchain.executable) (\($0))" } ?? tool.toolchain.executable
        let advice = tool.advice.map { "; \($0)" } ?? ""
        let asked =
            status.requested.map {
                " (\(Self.describe(VersionRequest(version: $0, source: status.source ?? "the app"), toolchain: tool.toolchain.name)); "
                    + "versions available here: none)"
            }
            ?? ""
        return "\(detected.detection), but \(what) is not installed on this machine\(asked): "
            + "install it with `\(tool.toolchain.installHint)`\(advice)"
    }
}
