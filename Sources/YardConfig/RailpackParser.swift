import Foundation
import YardCore

extension RailpackConfig {
    /// Parses a `railpack.json` file.
    ///
    /// Errors are `YardError(.invalidConfig, …)` in `railway.json`'s style: the file, the JSON
    /// path of the field and what was expected (`railpack.json at $.steps.install.commands[2]:
    /// expected a command: …, got integer 3`). Unknown fields are warnings, never errors.
    ///
    /// Decisions beyond Railpack's own schema:
    /// - Seed 002's `services` map: each service's `build` reads like a whole file and its
    ///   `deploy` like the top-level `deploy`; warnings carry full paths
    ///   (`services.backend.build.foo`) and land in the top-level `warnings` only.
    /// - A top-level `build` object (seed 002's `packages/web/railpack.json`) reads like a
    ///   service's `build`; a field set both there and at the top level is an error.
    /// - JSON `null` means "not set" everywhere (`"commands": null` keeps the provider's default).
    public static func parse(_ text: String, fileName: String) throws(YardError) -> RailpackConfig {
        let document: ConfigValue
        do {
            document = try JSONDocumentParser.parse(text, allowing: .railpack)
        } catch {
            throw YardError(
                .invalidConfig,
                "\(fileName) line \(error.line) column \(error.column): JSON syntax error: \(error.message)",
                cause: error
            )
        }
        var decoder = RailpackDecoder(fileName: fileName)
        var config = try decoder.decodeFile(document)
        config.warnings = decoder.warnings
        return config
    }
}

/// Checks a parsed `railpack.json` document against Railpack's schema plus seed 002's
/// `services` map, collecting warnings for fields it does not know.
struct RailpackDecoder {
    let fileName: String
    private(set) var warnings: [ConfigWarning] = []

    init(fileName: String) {
        self.fileName = fileName
    }

    /// The top-level members that describe a build; a service's `build` holds the same.
    private static let buildFields: Set<String> = [
        "provider", "packages", "buildAptPackages", "secrets", "caches", "steps",
    ]

    // MARK: Document structure

    mutating func decodeFile(_ document: ConfigValue) throws(YardError) -> RailpackConfig {
        let root = ConfigPath()
        var config = RailpackConfig(fileName: fileName)
        var topLevelBuildFields: Set<String> = []
        var buildSection: (value: ConfigValue, path: ConfigPath)?
        for (key, value) in try members(of: document, at: root) {
            let path = root.appending(key)
            switch key {
            case "$schema", "version", "metadata":
                continue
            case "deploy":
                config.deploy = try decodeDeploy(value, at: path)
            case "services":
                config.services = try decodeServices(value, at: path)
            case "build":
                buildSection = (value, path)
            case _ where Self.buildFields.contains(key):
                try decodeBuildField(key, value, at: path, into: &config)
                topLevelBuildFields.insert(key)
            default:
                warnUnknown(value, at: path)
            }
        }
        if let buildSection, buildSection.value != .null {
            let (build, fields) = try decodeBuildSection(buildSection.value, at: buildSection.path)
            if let clash = fields.intersection(topLevelBuildFields).sorted().first {
                throw failure(
                    at: buildSection.path.appending(clash),
                    .invalid("\(clash) is also set at the top level; set it in one place")
                )
            }
            if fields.contains("provider") { config.provider = build.provider }
            if fields.contains("packages") { config.packages = build.packages }
            if fields.contains("buildAptPackages") { config.buildAptPackages = build.buildAptPackages }
            if fields.contains("secrets") { config.secrets = build.secrets }
            if fields.contains("steps") { config.steps = build.steps }
        }
        return config
    }

    /// A service's `build` (or a top-level `build`): the build fields of a whole file.
    /// Returns the config and which fields the section set.
    private mutating func decodeBuildSection(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> (RailpackConfig, Set<String>)
    {
        var config = RailpackConfig(fileName: fileName)
        var fields: Set<String> = []
        for (key, member) in try members(of: value, at: path) {
            let field = path.appending(key)
            if Self.buildFields.contains(key) {
                try decodeBuildField(key, member, at: field, into: &config)
                fields.insert(key)
            } else {
                warnUnknown(member, at: field)
            }
        }
        return (config, fields)
    }

    private mutating func decodeBuildField(
        _ key: String,
        _ value: ConfigValue,
        at path: ConfigPath,
        into config: inout RailpackConfig
    ) throws(YardError) {
        switch key {
        case "provider":
            config.provider = try string(value, at: path)
        case "packages":
            config.packages = try stringMap(value, at: path, expected: "an object of version strings") ?? [:]
        case "buildAptPackages":
            config.buildAptPackages = try stringArray(value, at: path) ?? []
        case "secrets":
            config.secrets = try stringArray(value, at: path) ?? []
        case "caches":
            // Switchyard caches installs by itself; named cache definitions are accepted and unused.
            if value != .null { _ = try members(of: value, at: path) }
        case "steps":
            config.steps = []
            guard value != .null else { return }
            for (name, step) in try members(of: value, at: path) {
                config.steps.append(try decodeStep(name: name, step, at: path.appending(name)))
            }
        default:
            warnUnknown(value, at: path)
        }
    }

    private mutating func decodeServices(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> [RailpackService]
    {
        guard value != .null else { return [] }
        var services: [RailpackService] = []
        for (name, entry) in try members(of: value, at: path) {
            let servicePath = path.appending(name)
            var root = "."
            var config = RailpackConfig(fileName: fileName)
            for (key, member) in try members(of: entry, at: servicePath) {
                let field = servicePath.appending(key)
                switch key {
                case "root":
                    root = try decodeRoot(member, at: field)
                case "build":
                    if member != .null {
                        let deploy = config.deploy
                        (config, _) = try decodeBuildSection(member, at: field)
                        config.deploy = deploy
                    }
                case "deploy":
                    config.deploy = try decodeDeploy(member, at: field)
                default:
                    warnUnknown(member, at: field)
                }
            }
            services.append(RailpackService(name: name, root: root, config: config))
        }
        return services
    }

    /// `"./"` → `"."`, `"./packages/web/"` → `"packages/web"`; absolute roots and `..` are refused
    /// so a service cannot build from outside the upload.
    private func decodeRoot(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> String {
        guard let root = try string(value, at: path) else { return "." }
        if root.hasPrefix("/") {
            throw failure(
                at: path,
                .invalid("'\(Self.excerpt(root))' is an absolute path; give the folder relative to \(fileName), e.g. \"./packages/web\"")
            )
        }
        let parts = root.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if parts.contains("..") {
            throw failure(
                at: path,
                .invalid("'\(Self.excerpt(root))' leads outside the repository; give a folder inside it, e.g. \"./packages/web\"")
            )
        }
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    // MARK: Steps

    private mutating func decodeStep(name: String, _ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> RailpackStep
    {
        var step = RailpackStep(name: name)
        guard value != .null else { return step }
        for (key, member) in try members(of: value, at: path) {
            let field = path.appending(key)
            switch key {
            case "commands":
                step.commands = try decodeCommands(member, at: field)
            case "secrets":
                step.secrets = try stringArray(member, at: field) ?? []
            case "variables":
                step.variables = try stringMap(member, at: field, expected: "an object of strings") ?? [:]
            case "inputs":
                step.inputs = try decodeInputs(member, at: field)
            case "caches":
                step.caches = try stringArray(member, at: field) ?? []
            case "deployOutputs":
                // Which files of the step reach the image; Switchyard keeps the whole app folder.
                continue
            default:
                warnUnknown(member, at: field)
            }
        }
        return step
    }

    private mutating func decodeCommands(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> [RailpackCommand]?
    {
        if value == .null { return nil }
        guard case .array(let elements) = value else {
            throw failure(at: path, .wrongType(expected: "an array of commands", got: value))
        }
        var commands: [RailpackCommand] = []
        var extendIndex: Int?
        for (index, element) in elements.enumerated() {
            let elementPath = path.appending(index: index)
            let command = try decodeCommand(element, at: elementPath)
            if command == .extend {
                if let extendIndex {
                    throw failure(
                        at: elementPath,
                        .invalid(
                            "\"...\" may appear only once in a commands array (it is already at [\(extendIndex)]); "
                                + "it stands for the provider's default commands"
                        )
                    )
                }
                extendIndex = index
            }
            commands.append(command)
        }
        return commands
    }

    private mutating func decodeCommand(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> RailpackCommand
    {
        let expected = "a command: a string, {\"cmd\": …}, {\"path\": …} or {\"src\": …, \"dest\": …}"
        switch value {
        case .string("..."):
            return .extend
        case .string(let line):
            return .exec(line)
        case .table(let members):
            let keys = Set(members.map(\.key))
            let kinds = [keys.contains("cmd"), keys.contains("path"), keys.contains("src") || keys.contains("dest")]
            guard kinds.filter({ $0 }).count == 1 else {
                throw failure(at: path, .wrongType(expected: expected, got: value))
            }
            func member(_ key: String) -> ConfigValue? { members.first { $0.key == key }?.value }
            func required(_ key: String) throws(YardError) -> String {
                guard let memberValue = member(key) else {
                    throw failure(at: path, .invalid("a copy command needs both src and dest"))
                }
                guard case .string(let text) = memberValue else {
                    throw failure(at: path.appending(key), .wrongType(expected: "a string", got: memberValue))
                }
                return text
            }
            let command: RailpackCommand
            let known: Set<String>
            if keys.contains("cmd") {
                command = .exec(try required("cmd"))
                if let customName = member("customName"), customName != .null {
                    guard case .string = customName else {
                        throw failure(at: path.appending("customName"), .wrongType(expected: "a string", got: customName))
                    }
                }
                known = ["cmd", "customName"]
            } else if keys.contains("path") {
                command = .path(try required("path"))
                known = ["path"]
            } else {
                if keys.contains("image") {
                    throw failure(
                        at: path.appending("image"),
                        .invalid("copying from another image is not supported; copy from the app's own files")
                    )
                }
                command = .copy(source: try required("src"), destination: try required("dest"))
                known = ["src", "dest"]
            }
            for (key, memberValue) in members where !known.contains(key) {
                warnUnknown(memberValue, at: path.appending(key))
            }
            return command
        default:
            throw failure(at: path, .wrongType(expected: expected, got: value))
        }
    }

    /// Step names from `{"step": …}` layers; image and local layers are accepted and dropped.
    private mutating func decodeInputs(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> [String] {
        if value == .null { return [] }
        guard case .array(let elements) = value else {
            throw failure(at: path, .wrongType(expected: "an array of inputs", got: value))
        }
        var steps: [String] = []
        for (index, element) in elements.enumerated() {
            let elementPath = path.appending(index: index)
            // "..." spreads the provider's default inputs, which Switchyard's builder always keeps.
            if element == .string("...") { continue }
            let expected = "an input: {\"step\": …}, {\"image\": …} or {\"local\": true}"
            guard case .table(let members) = element else {
                throw failure(at: elementPath, .wrongType(expected: expected, got: element))
            }
            var found = false
            for (key, member) in members {
                let field = elementPath.appending(key)
                switch key {
                case "step":
                    guard case .string(let name) = member else {
                        throw failure(at: field, .wrongType(expected: "a string", got: member))
                    }
                    steps.append(name)
                    found = true
                case "image", "local":
                    found = true
                case "include", "exclude", "spread":
                    continue
                default:
                    warnUnknown(member, at: field)
                }
            }
            guard found else { throw failure(at: elementPath, .wrongType(expected: expected, got: element)) }
        }
        return steps
    }

    // MARK: Deploy

    private mutating func decodeDeploy(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> RailpackDeploy?
    {
        guard value != .null else { return nil }
        var deploy = RailpackDeploy()
        var variables: [String: String] = [:]
        var environment: [String: String] = [:]
        var spellings: [String: String] = [:]
        for (key, member) in try members(of: value, at: path) {
            let field = path.appending(key)
            switch key {
            case "startCommand":
                deploy.startCommand = try string(member, at: field)
            case "variables":
                variables = try stringMap(member, at: field, expected: "an object of strings") ?? [:]
            case "environment":
                environment = try stringMap(member, at: field, expected: "an object of strings") ?? [:]
            case "healthCheckPath", "healthcheckPath":
                try checkOneSpelling(of: "healthcheckPath", key, at: path, seen: &spellings)
                deploy.healthcheckPath = try string(member, at: field)
            case "healthCheckTimeout", "healthcheckTimeout":
                try checkOneSpelling(of: "healthcheckTimeout", key, at: path, seen: &spellings)
                deploy.healthcheckTimeout = try positiveInteger(member, at: field)
            case "inputs":
                _ = try decodeInputs(member, at: field)
            case "paths":
                deploy.paths = try stringArray(member, at: field) ?? []
            case "aptPackages":
                deploy.aptPackages = try stringArray(member, at: field) ?? []
            default:
                warnUnknown(member, at: field)
            }
        }
        deploy.variables = variables.merging(environment) { _, fromEnvironment in fromEnvironment }
        return deploy
    }

    private func checkOneSpelling(
        of setting: String,
        _ key: String,
        at path: ConfigPath,
        seen: inout [String: String]
    ) throws(YardError) {
        if let earlier = seen[setting] {
            throw failure(at: path.appending(key), .invalid("sets the same setting as \(earlier); keep only one of them"))
        }
        seen[setting] = key
    }

    // MARK: Typed readers

    private func members(of value: ConfigValue, at path: ConfigPath) throws(YardError) -> [ConfigValue.Member] {
        guard case .table(let members) = value else {
            throw failure(at: path, .wrongType(expected: "an object", got: value))
        }
        return members
    }

    /// nil for null.
    private func string(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> String? {
        switch value {
        case .string(let text): return text
        case .null: return nil
        default: throw failure(at: path, .wrongType(expected: "a string", got: value))
        }
    }

    /// nil for null.
    private func stringArray(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> [String]? {
        switch value {
        case .null:
            return nil
        case .array(let elements):
            var strings: [String] = []
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element else {
                    throw failure(at: path.appending(index: index), .wrongType(expected: "a string", got: element))
                }
                strings.append(text)
            }
            return strings
        default:
            throw failure(at: path, .wrongType(expected: "an array of strings", got: value))
        }
    }

    /// nil for null. Values must be strings: `{"python": 3.12}` is an error, not version 3.12.
    private func stringMap(_ value: ConfigValue, at path: ConfigPath, expected: String) throws(YardError)
        -> [String: String]?
    {
        if value == .null { return nil }
        guard case .table(let members) = value else {
            throw failure(at: path, .wrongType(expected: expected, got: value))
        }
        var map: [String: String] = [:]
        for (key, member) in members {
            guard case .string(let text) = member else {
                let hint = if case .table = member { "a string" } else { "a string (put the value in double quotes)" }
                throw failure(at: path.appending(key), .wrongType(expected: hint, got: member))
            }
            map[key] = text
        }
        return map
    }

    /// nil for null. Integral floats (`300.0`) are accepted.
    private func positiveInteger(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> Int? {
        let number: Int
        switch value {
        case .null:
            return nil
        case .integer(let integer):
            number = integer
        case .float(let float) where float.rounded() == float && abs(float) < 1e15:
            number = Int(float)
        default:
            throw failure(at: path, .wrongType(expected: "a positive integer (seconds)", got: value))
        }
        guard number >= 1 else { throw failure(at: path, .invalid("must be at least 1, got \(number)")) }
        return number
    }

    // MARK: Messages

    private enum Problem {
        case wrongType(expected: String, got: ConfigValue)
        case invalid(String)
    }

    /// `railpack.json at $.steps.install.commands[2]: expected a string, got integer 3`.
    private func failure(at path: ConfigPath, _ problem: Problem) -> YardError {
        let text =
            switch problem {
            case .wrongType(let expected, let got): "expected \(expected), got \(Self.describe(got))"
            case .invalid(let reason): reason
            }
        return YardError(.invalidConfig, "\(fileName) at \(path.jsonPath): \(text)")
    }

    private static func describe(_ value: ConfigValue) -> String {
        switch value {
        case .string(let text): "string \"\(excerpt(text))\""
        case .integer(let integer): "integer \(integer)"
        case .float(let float): "number \(float)"
        case .bool(let flag): "boolean \(flag)"
        case .null: "null"
        case .array: "an array"
        case .table: "an object"
        case .other(let typeName): "a \(typeName)"
        }
    }

    /// Config values are settings, not secrets, but a long one would drown the message.
    private static func excerpt(_ text: String) -> String {
        text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    private mutating func warnUnknown(_ value: ConfigValue, at path: ConfigPath) {
        let kind = if case .table = value { "object" } else { "field" }
        warnings.append(
            ConfigWarning(file: fileName, field: path.dotted, line: nil, message: "unknown \(kind) \(path.dotted) is ignored")
        )
    }
}
