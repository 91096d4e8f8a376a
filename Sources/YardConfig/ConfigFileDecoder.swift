import Foundation
import YardCore

/// Checks a parsed config document against Railway's config-as-code schema and turns it
/// into overrides, collecting warnings for what it accepts but does not use.
///
/// Decisions (Railway compatibility, see railway-compat.md):
/// - `builder`: `RAILPACK` and `DOCKERFILE` as written; `NIXPACKS` (deprecated) builds
///   with Railpack and warns; `RAILPACKS` — an obvious misspelling that real files carry
///   (seed 000) — builds with Railpack and warns "did you mean RAILPACK?"; any other
///   value is an error naming the allowed values, because guessing a builder silently
///   would build the wrong thing.
/// - JSON `null` clears a field back to "unset": `String??` fields become `.some(nil)`;
///   fields that cannot be unset take their default (`builder` RAILPACK, numbers and
///   `restartPolicyType` their `DeploySettings` defaults, `watchPatterns` and
///   `preDeployCommand` empty, `sleepApplication` false). A `null` `multiRegionConfig`
///   cannot be expressed by `DeployOverrides` and is ignored with a warning.
/// - Version pins, Nixpacks settings, `runtime` and `useLegacyStacker` are accepted
///   (any type) and reported as ignored.
/// - An empty `cronSchedule` clears the schedule; otherwise it must have five fields.
struct ConfigFileDecoder {
    enum Syntax {
        case toml(TOMLKeyLines)
        case json
    }

    let fileName: String
    let syntax: Syntax
    private(set) var warnings: [ConfigWarning] = []

    init(fileName: String, syntax: Syntax) {
        self.fileName = fileName
        self.syntax = syntax
    }

    // MARK: Document structure

    mutating func decodeFile(_ document: ConfigValue) throws(YardError) -> ConfigFile {
        let root = ConfigPath()
        var file = ConfigFile(fileName: fileName)
        for (key, value) in try members(of: document, at: root) {
            let path = root.appending(key)
            switch key {
            case "$schema":
                continue
            case "build":
                file.build = try decodeBuild(value, at: path)
            case "deploy":
                file.deploy = try decodeDeploy(value, at: path)
            case "environments":
                for (name, environment) in try members(of: value, at: path) {
                    file.environments[name] = try decodeEnvironment(environment, at: path.appending(name))
                }
            case "env", "variables", "environmentVariables":
                warn(
                    path,
                    "unknown \(kind(of: value)) \(key) is ignored: variables are not read from config files; "
                        + "set them as service variables (yard variables set)"
                )
            default:
                warnUnknown(key: key, value: value, at: path)
            }
        }
        file.warnings = warnings
        return file
    }

    private mutating func decodeEnvironment(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> EnvironmentOverrides
    {
        var environment = EnvironmentOverrides()
        for (key, member) in try members(of: value, at: path) {
            switch key {
            case "build": environment.build = try decodeBuild(member, at: path.appending(key))
            case "deploy": environment.deploy = try decodeDeploy(member, at: path.appending(key))
            default: warnUnknown(key: key, value: member, at: path.appending(key))
            }
        }
        return environment
    }

    private mutating func decodeBuild(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> BuildOverrides {
        var build = BuildOverrides()
        for (key, member) in try members(of: value, at: path) {
            let field = path.appending(key)
            switch key {
            case "builder":
                build.builder = try decodeBuilder(member, at: field)
            case "buildCommand":
                build.buildCommand = try nullableString(member, at: field)
            case "watchPatterns":
                build.watchPatterns = try stringArray(member, at: field, acceptsSingleString: false) ?? []
            case "dockerfilePath":
                build.dockerfilePath = try nullableString(member, at: field)
            case "railpackVersion", "nixpacksVersion":
                warn(
                    field,
                    "\(field.dotted) is ignored: version pins are not supported; Switchyard builds with its own Railpack-compatible builder"
                )
            case "nixpacksPlan", "nixpacksConfigPath":
                warn(field, "\(field.dotted) is ignored: Nixpacks is not supported; builds use Railpack")
            default:
                warnUnknown(key: key, value: member, at: field)
            }
        }
        return build
    }

    private mutating func decodeDeploy(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> DeployOverrides {
        var deploy = DeployOverrides()
        let defaults = DeploySettings()
        for (key, member) in try members(of: value, at: path) {
            let field = path.appending(key)
            switch key {
            case "startCommand":
                deploy.startCommand = try nullableString(member, at: field)
            case "preDeployCommand":
                deploy.preDeployCommand = try stringArray(member, at: field, acceptsSingleString: true) ?? []
            case "healthcheckPath":
                deploy.healthcheckPath = try nullableString(member, at: field)
            case "healthcheckTimeout":
                deploy.healthcheckTimeout = try integer(member, at: field, minimum: 1) ?? defaults.healthcheckTimeout
            case "restartPolicyType":
                deploy.restartPolicyType =
                    try enumeration(member, at: field, as: RestartPolicyType.self) ?? defaults.restartPolicyType
            case "restartPolicyMaxRetries":
                deploy.restartPolicyMaxRetries =
                    try integer(member, at: field, minimum: 0) ?? defaults.restartPolicyMaxRetries
            case "numReplicas":
                deploy.numReplicas = try integer(member, at: field, minimum: 1) ?? defaults.numReplicas
            case "multiRegionConfig":
                deploy.multiRegionConfig = try decodeMultiRegionConfig(member, at: field)
            case "cronSchedule":
                deploy.cronSchedule = try decodeCronSchedule(member, at: field)
            case "sleepApplication":
                deploy.sleepApplication = try boolean(member, at: field) ?? defaults.sleepApplication
            case "overlapSeconds":
                deploy.overlapSeconds = try integer(member, at: field, minimum: 0) ?? defaults.overlapSeconds
            case "drainingSeconds":
                deploy.drainingSeconds = try integer(member, at: field, minimum: 0) ?? defaults.drainingSeconds
            case "region":
                deploy.region = try nullableString(member, at: field)
            case "runtime", "useLegacyStacker":
                warn(field, "\(field.dotted) is ignored: Switchyard runs every service on one runtime")
            default:
                warnUnknown(key: key, value: member, at: field)
            }
        }
        return deploy
    }

    // MARK: Fields with their own rules

    private mutating func decodeBuilder(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> BuilderKind {
        guard case .string(let name) = value else {
            if value == .null { return .railpack }
            throw failure(at: path, .wrongType(expected: expectedName(.string), got: value))
        }
        switch name {
        case BuilderKind.railpack.rawValue:
            return .railpack
        case BuilderKind.dockerfile.rawValue:
            return .dockerfile
        case BuilderKind.nixpacks.rawValue:
            warn(path, "\(path.dotted) NIXPACKS is deprecated; building with RAILPACK instead")
            return .railpack
        case "RAILPACKS":
            warn(path, "\(path.dotted) 'RAILPACKS' is not a builder; did you mean RAILPACK? Building with RAILPACK")
            return .railpack
        default:
            throw failure(at: path, .notOneOf(value: name, allowed: BuilderKind.allCases.map(\.rawValue)))
        }
    }

    private mutating func decodeMultiRegionConfig(_ value: ConfigValue, at path: ConfigPath) throws(YardError)
        -> [String: Int]?
    {
        if value == .null {
            warn(path, "\(path.dotted) null is ignored: remove the field, or list regions with numReplicas")
            return nil
        }
        var regions: [String: Int] = [:]
        for (region, settings) in try members(of: value, at: path) {
            let regionPath = path.appending(region)
            // Railway removes a region by setting it to null.
            if settings == .null { continue }
            var replicas: Int?
            for (key, member) in try members(of: settings, at: regionPath) {
                if key == "numReplicas" {
                    replicas = try integer(member, at: regionPath.appending(key), minimum: 0)
                } else {
                    warnUnknown(key: key, value: member, at: regionPath.appending(key))
                }
            }
            guard let replicas else {
                throw failure(at: regionPath, .invalid("must set numReplicas, e.g. { numReplicas = 1 }"))
            }
            regions[region] = replicas
        }
        return regions
    }

    private func decodeCronSchedule(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> String?? {
        guard let schedule = try nullableString(value, at: path) else { return nil }
        guard let schedule, !schedule.trimmingCharacters(in: .whitespaces).isEmpty else { return .some(nil) }
        let fields = schedule.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else {
            throw failure(
                at: path,
                .invalid(
                    "must be a 5-field crontab expression (minute hour day-of-month month day-of-week, UTC), "
                        + "got '\(Self.excerpt(schedule))' with \(fields.count) field\(fields.count == 1 ? "" : "s")"
                )
            )
        }
        do {
            _ = try CronSchedule(schedule)
        } catch {
            throw failure(at: path, .invalid(error.message))
        }
        return .some(schedule)
    }

    // MARK: Typed readers

    /// A section's members; anything but a table is an error.
    private func members(of value: ConfigValue, at path: ConfigPath) throws(YardError) -> [ConfigValue.Member] {
        guard case .table(let members) = value else {
            throw failure(at: path, .wrongType(expected: expectedName(.table), got: value))
        }
        return members
    }

    /// nil: not a string field at all is an error; `.some(nil)`: null.
    private func nullableString(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> String?? {
        switch value {
        case .string(let text): return .some(text)
        case .null: return .some(nil)
        default: throw failure(at: path, .wrongType(expected: expectedName(.nullableString), got: value))
        }
    }

    /// nil for null.
    private func stringArray(_ value: ConfigValue, at path: ConfigPath, acceptsSingleString: Bool) throws(YardError)
        -> [String]?
    {
        switch value {
        case .null:
            return nil
        case .string(let text) where acceptsSingleString:
            return [text]
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
            let expected = acceptsSingleString ? "a string or an array of strings" : "an array of strings"
            throw failure(at: path, .wrongType(expected: expected, got: value))
        }
    }

    /// nil for null. Integral floats (`300.0`) are accepted as integers, and so are numeric
    /// strings (`"60"`): Railway's own config reference writes `"overlapSeconds": "60"`.
    private func integer(_ value: ConfigValue, at path: ConfigPath, minimum: Int) throws(YardError) -> Int? {
        let number: Int
        switch value {
        case .null:
            return nil
        case .integer(let integer):
            number = integer
        case .float(let float) where float.rounded() == float && abs(float) < 1e15:
            number = Int(float)
        case .string(let text):
            guard let parsed = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw failure(at: path, .wrongType(expected: "an integer", got: value))
            }
            number = parsed
        default:
            throw failure(at: path, .wrongType(expected: "an integer", got: value))
        }
        guard number >= minimum else { throw failure(at: path, .tooSmall(value: number, minimum: minimum)) }
        return number
    }

    /// nil for null.
    private func boolean(_ value: ConfigValue, at path: ConfigPath) throws(YardError) -> Bool? {
        switch value {
        case .null: return nil
        case .bool(let flag): return flag
        default: throw failure(at: path, .wrongType(expected: "a boolean (true or false)", got: value))
        }
    }

    /// nil for null.
    private func enumeration<Value: RawRepresentable & CaseIterable>(
        _ value: ConfigValue,
        at path: ConfigPath,
        as type: Value.Type
    ) throws(YardError) -> Value? where Value.RawValue == String {
        switch value {
        case .null:
            return nil
        case .string(let name):
            guard let result = Value(rawValue: name) else {
                throw failure(at: path, .notOneOf(value: name, allowed: Value.allCases.map(\.rawValue)))
            }
            return result
        default:
            let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
            throw failure(at: path, .wrongType(expected: "one of \(allowed)", got: value))
        }
    }

    // MARK: Messages

    private enum Problem {
        case wrongType(expected: String, got: ConfigValue)
        case notOneOf(value: String, allowed: [String])
        case tooSmall(value: Int, minimum: Int)
        case invalid(String)
    }

    private enum ExpectedShape {
        case table, string, nullableString
    }

    private func expectedName(_ shape: ExpectedShape) -> String {
        switch (shape, syntax) {
        case (.table, .toml): "a table"
        case (.table, .json): "an object"
        case (.string, _): "a string"
        case (.nullableString, .toml): "a string"
        case (.nullableString, .json): "a string or null"
        }
    }

    /// `railway.toml line 4: deploy.numReplicas must be an integer, got string "two"`;
    /// `railway.json at $.deploy.numReplicas: expected an integer, got string "two"`.
    private func failure(at path: ConfigPath, _ problem: Problem) -> YardError {
        switch syntax {
        case .toml(let lines):
            let subject = path.components.isEmpty ? "the document" : path.dotted
            let text: String
            switch problem {
            case .wrongType(let expected, let got): text = "\(subject) must be \(expected), got \(describe(got))"
            case .notOneOf(let value, let allowed):
                text = "\(subject) '\(Self.excerpt(value))' is not one of \(allowed.joined(separator: ", "))"
            case .tooSmall(let value, let minimum): text = "\(subject) must be at least \(minimum), got \(value)"
            case .invalid(let reason): text = "\(subject) \(reason)"
            }
            let location = lines.line(for: path.keys).map { "\(fileName) line \($0)" } ?? fileName
            return YardError(.invalidConfig, "\(location): \(text)")
        case .json:
            let text: String
            switch problem {
            case .wrongType(let expected, let got): text = "expected \(expected), got \(describe(got))"
            case .notOneOf(let value, let allowed):
                text = "'\(Self.excerpt(value))' is not one of \(allowed.joined(separator: ", "))"
            case .tooSmall(let value, let minimum): text = "must be at least \(minimum), got \(value)"
            case .invalid(let reason): text = reason
            }
            return YardError(.invalidConfig, "\(fileName) at \(path.jsonPath): \(text)")
        }
    }

    private func describe(_ value: ConfigValue) -> String {
        switch value {
        case .string(let text): "string \"\(Self.excerpt(text))\""
        case .integer(let integer): "integer \(integer)"
        case .float(let float): "number \(float)"
        case .bool(let flag): "boolean \(flag)"
        case .null: "null"
        case .array: "an array"
        case .table: kind(of: value) == "table" ? "a table" : "an object"
        case .other(let typeName): "a \(typeName)"
        }
    }

    private func kind(of value: ConfigValue) -> String {
        guard case .table = value else { return "field" }
        if case .json = syntax { return "object" }
        return "table"
    }

    /// Config values are settings, not secrets, but a long one would drown the message.
    private static func excerpt(_ text: String) -> String {
        text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    private mutating func warnUnknown(key: String, value: ConfigValue, at path: ConfigPath) {
        warn(path, "unknown \(kind(of: value)) \(path.dotted) is ignored")
    }

    private mutating func warn(_ path: ConfigPath, _ message: String) {
        let line: Int? =
            switch syntax {
            case .toml(let lines): lines.line(for: path.keys)
            case .json: nil
            }
        warnings.append(ConfigWarning(file: fileName, field: path.dotted, line: line, message: message))
    }
}
