import Foundation
import TOMLKit
import YardCore

/// Something in a config file that Switchyard accepted but did not use as written: an
/// unknown field or table, an ignored setting, a deprecated or misspelt builder.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// The config file, relative to the service directory (e.g. `railway.toml`).
    public var file: String
    /// Dotted path of the field (e.g. `deploy.fooBar`, `env`); empty for the whole file.
    public var field: String
    /// TOML: 1-based line of the field. JSON: nil.
    public var line: Int?
    /// What happened and what to do, without the file and line prefix.
    public var message: String

    public init(file: String, field: String, line: Int?, message: String) {
        self.file = file
        self.field = field
        self.line = line
        self.message = message
    }

    /// `railway.toml line 7: unknown field deploy.fooBar is ignored`
    public var description: String {
        if let line { "\(file) line \(line): \(message)" } else { "\(file): \(message)" }
    }
}

/// The `build` and `deploy` sections of one entry under `environments`.
public struct EnvironmentOverrides: Sendable, Equatable {
    public var build: BuildOverrides
    public var deploy: DeployOverrides

    public init(build: BuildOverrides = .init(), deploy: DeployOverrides = .init()) {
        self.build = build
        self.deploy = deploy
    }
}

/// A parsed `railway.toml` / `railway.json`: what each section sets, and nothing more.
/// Merging with service settings happens in ``resolve(environment:isPullRequestEnvironment:serviceBuild:serviceDeploy:)``.
public struct ConfigFile: Sendable, Equatable {
    public var fileName: String
    public var build: BuildOverrides
    public var deploy: DeployOverrides
    /// `environments.<name>`, keyed by environment name.
    public var environments: [String: EnvironmentOverrides]
    /// In file order for TOML (by line); in document order for JSON.
    public var warnings: [ConfigWarning]

    public init(
        fileName: String,
        build: BuildOverrides = .init(),
        deploy: DeployOverrides = .init(),
        environments: [String: EnvironmentOverrides] = [:],
        warnings: [ConfigWarning] = []
    ) {
        self.fileName = fileName
        self.build = build
        self.deploy = deploy
        self.environments = environments
        self.warnings = warnings
    }

    /// The file's layers that apply to `environment`, lowest priority first: the base,
    /// then (PR environments only) `environments.pr`, then `environments.<environment>`.
    public func layers(environment: String, isPullRequestEnvironment: Bool = false) -> [EnvironmentOverrides] {
        var layers = [EnvironmentOverrides(build: build, deploy: deploy)]
        if isPullRequestEnvironment, environment != "pr", let pr = environments["pr"] {
            layers.append(pr)
        }
        if let named = environments[environment] {
            layers.append(named)
        }
        return layers
    }

    /// Settings for `environment`: defaults, then the service's own settings, then the
    /// file's base, then (PR environments) `environments.pr`, then `environments.<environment>`.
    public func resolve(
        environment: String,
        isPullRequestEnvironment: Bool = false,
        serviceBuild: BuildOverrides = .init(),
        serviceDeploy: DeployOverrides = .init()
    ) -> (build: BuildSettings, deploy: DeploySettings) {
        Self.merge(
            layers(environment: environment, isPullRequestEnvironment: isPullRequestEnvironment),
            serviceBuild: serviceBuild,
            serviceDeploy: serviceDeploy
        )
    }

    static func merge(
        _ layers: [EnvironmentOverrides],
        serviceBuild: BuildOverrides,
        serviceDeploy: DeployOverrides
    ) -> (build: BuildSettings, deploy: DeploySettings) {
        var build = BuildSettings()
        var deploy = DeploySettings()
        serviceBuild.apply(to: &build)
        serviceDeploy.apply(to: &deploy)
        for layer in layers {
            layer.build.apply(to: &build)
            layer.deploy.apply(to: &deploy)
        }
        return (build, deploy)
    }
}

/// Parses Railway config-as-code files.
///
/// Both formats go through one schema check, so they accept the same fields and fail the
/// same way. Errors are `YardError(.invalidConfig, …)` naming the file, the field and
/// where it is: a line for TOML (`railway.toml line 4: deploy.restartPolicyType
/// 'SOMETIMES' is not one of ON_FAILURE, ALWAYS, NEVER`), a JSON path for JSON
/// (`railway.json at $.deploy.numReplicas: expected an integer, got string "two"`).
/// Unknown fields and tables are warnings, never errors, so files written for Railway
/// keep working.
public enum ConfigParser {
    public static func parseTOML(_ text: String, fileName: String) throws(YardError) -> ConfigFile {
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        if let nul = text.firstIndex(of: "\0") {
            let line = text[..<nul].unicodeScalars.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
            throw YardError(
                .invalidConfig, "\(fileName) line \(line): contains a NUL character; save the file as plain UTF-8 text")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw YardError(
                .invalidConfig,
                "\(fileName) line \(position.line) column \(position.column): TOML syntax error: \(error.description)",
                cause: error
            )
        } catch {
            throw YardError(.invalidConfig, "\(fileName): could not be parsed as TOML", cause: error)
        }
        var decoder = ConfigFileDecoder(fileName: fileName, syntax: .toml(TOMLKeyLines(text: text)))
        var file = try decoder.decodeFile(ConfigValue(table))
        // toml++ hands keys back sorted; report warnings in reading order instead.
        file.warnings = file.warnings.enumerated()
            .sorted { ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset) }
            .map(\.element)
        return file
    }

    public static func parseJSON(_ text: String, fileName: String) throws(YardError) -> ConfigFile {
        let document: ConfigValue
        do {
            document = try JSONDocumentParser.parse(text)
        } catch {
            throw YardError(
                .invalidConfig,
                "\(fileName) line \(error.line) column \(error.column): JSON syntax error: \(error.message)",
                cause: error
            )
        }
        var decoder = ConfigFileDecoder(fileName: fileName, syntax: .json)
        return try decoder.decodeFile(document)
    }
}

extension ConfigValue {
    /// Copies a TOMLKit tree (reference types over C++ nodes) into a value tree.
    init(_ table: TOMLTable) {
        self = .table(table.keys.compactMap { key in table[key].map { (key, ConfigValue($0)) } })
    }

    init(_ value: any TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? .nan)
        case .bool: self = .bool(value.bool ?? false)
        case .array: self = .array(value.array.map { $0.map { ConfigValue($0) } } ?? [])
        case .table: self = value.table.map { ConfigValue($0) } ?? .table([])
        case .date: self = .other(typeName: "date")
        case .time: self = .other(typeName: "time")
        case .dateTime: self = .other(typeName: "date-time")
        }
    }
}
