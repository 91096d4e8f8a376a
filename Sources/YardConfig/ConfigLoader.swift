import Foundation
import YardCore

/// The settings one deployment runs with, after merging the config file over the
/// service's settings, plus what the Procfile says.
public struct ResolvedConfig: Sendable, Equatable {
    public var build: BuildSettings
    public var deploy: DeploySettings
    /// The config file used, relative to the service directory; nil without one.
    public var configFile: String?
    /// The Procfile's `web:` command if a Procfile exists. Kept apart from
    /// `deploy.startCommand`: the builder decides its priority against detected commands.
    public var procfileWeb: String?
    public var warnings: [ConfigWarning]

    public init(
        build: BuildSettings = .init(),
        deploy: DeploySettings = .init(),
        configFile: String? = nil,
        procfileWeb: String? = nil,
        warnings: [ConfigWarning] = []
    ) {
        self.build = build
        self.deploy = deploy
        self.configFile = configFile
        self.procfileWeb = procfileWeb
        self.warnings = warnings
    }
}

/// Finds, reads and merges a service's config-as-code file.
public enum ConfigLoader {
    /// Config files larger than this are refused rather than read into memory.
    public static let maximumFileSize = 1 << 20

    /// Looks up the config file in `directory`: `configPath` if given (error naming it if missing),
    /// else railway.toml, else railway.json (if both exist use railway.toml and warn that railway.json is ignored).
    /// Priority: environments.<environment> in the file > the file's base > `railpackDeploy` >
    /// service overrides > defaults.
    ///
    /// - `configPath` is relative to `directory`; a leading `/` (how Railway writes it) is
    ///   dropped, and a path that leads outside `directory` is refused. A name ending in
    ///   `.json` is read as JSON, anything else as TOML.
    /// - For PR environments (`isPullRequestEnvironment`), `environments.pr` sits between
    ///   the base and `environments.<environment>`.
    /// - When no layer chooses a builder, a `Dockerfile` in `directory` or a
    ///   `dockerfilePath` selects DOCKERFILE, as on Railway.
    /// - A `Procfile` in `directory` is parsed; its `web` command is returned as `procfileWeb`.
    /// - `railpackDeploy` (a `railpack.json`'s `deploy`, or a service's in seed 002's `services`
    ///   map) supplies the start command and health check path and timeout where the file
    ///   does not set them. Its variables are not merged here.
    public static func load(
        directory: URL,
        configPath: String? = nil,
        environment: String,
        isPullRequestEnvironment: Bool = false,
        serviceBuild: BuildOverrides = .init(),
        serviceDeploy: DeployOverrides = .init(),
        railpackDeploy: RailpackDeploy? = nil
    ) throws(YardError) -> ResolvedConfig {
        var warnings: [ConfigWarning] = []
        let file = try findConfigFile(in: directory, configPath: configPath, warnings: &warnings)

        var configFile: ConfigFile?
        if let file {
            let text = try readText(file.url, name: file.name)
            configFile =
                file.name.lowercased().hasSuffix(".json")
                ? try ConfigParser.parseJSON(text, fileName: file.name)
                : try ConfigParser.parseTOML(text, fileName: file.name)
        }

        let railpackLayers = railpackDeploy.map { [EnvironmentOverrides(deploy: $0.deployOverrides)] } ?? []
        let layers =
            railpackLayers
            + (configFile?.layers(environment: environment, isPullRequestEnvironment: isPullRequestEnvironment) ?? [])
        let settings = ConfigFile.merge(layers, serviceBuild: serviceBuild, serviceDeploy: serviceDeploy)
        var resolved = ResolvedConfig(build: settings.build, deploy: settings.deploy, configFile: file?.name)

        let builderChosen = serviceBuild.builder != nil || layers.contains { $0.build.builder != nil }
        if !builderChosen,
            resolved.build.dockerfilePath != nil || isRegularFile(directory.appendingPathComponent("Dockerfile"))
        {
            resolved.build.builder = .dockerfile
        }

        if let procfileURL = try containedFile("Procfile", in: directory) {
            resolved.procfileWeb = try Procfile.parse(readText(procfileURL, name: "Procfile")).web
        }

        resolved.warnings = warnings + (configFile?.warnings ?? [])
        return resolved
    }

    /// Reads a service's `railpack.json`: `fileName` (the `RAILPACK_CONFIG_FILE` setting) if
    /// given, else `railpack.json` if present; nil when there is none.
    ///
    /// `fileName` is relative to `directory` (a leading `/` is dropped, as Railpack joins it to
    /// the app folder); a path leading outside `directory` is refused, and a missing file is
    /// an error naming it. Size limit and text checks are those of `railway.toml`.
    public static func loadRailpack(directory: URL, fileName: String? = nil) throws(YardError) -> RailpackConfig? {
        if let requested = fileName?.trimmingCharacters(in: .whitespaces), !requested.isEmpty {
            let name = String(requested.drop(while: { $0 == "/" }))
            guard !name.isEmpty else {
                throw YardError(
                    .invalidConfig,
                    "RAILPACK_CONFIG_FILE '\(requested)' names a directory; give a file such as railpack.json"
                )
            }
            guard let url = try containedFile(name, in: directory) else {
                throw YardError(
                    .invalidConfig,
                    "railpack config file '\(name)' (RAILPACK_CONFIG_FILE) was not found in the service directory; "
                        + "add it or change RAILPACK_CONFIG_FILE"
                )
            }
            return try RailpackConfig.parse(readText(url, name: name), fileName: name)
        }
        guard let url = try containedFile("railpack.json", in: directory) else { return nil }
        return try RailpackConfig.parse(readText(url, name: "railpack.json"), fileName: "railpack.json")
    }

    private struct LocatedFile {
        var url: URL
        /// As shown to users: relative to the service directory.
        var name: String
    }

    private static func findConfigFile(
        in directory: URL,
        configPath: String?,
        warnings: inout [ConfigWarning]
    ) throws(YardError) -> LocatedFile? {
        if let configPath = configPath?.trimmingCharacters(in: .whitespaces), !configPath.isEmpty {
            let name = String(configPath.drop(while: { $0 == "/" }))
            guard !name.isEmpty else {
                throw YardError(
                    .invalidConfig, "config path '\(configPath)' names a directory; give a file such as railway.toml")
            }
            guard let url = try containedFile(name, in: directory) else {
                throw YardError(
                    .invalidConfig,
                    "config file '\(name)' was not found in the service directory; add it or change the service's config path"
                )
            }
            return LocatedFile(url: url, name: name)
        }

        let toml = try containedFile("railway.toml", in: directory)
        let json = try containedFile("railway.json", in: directory)
        if let toml {
            if json != nil {
                warnings.append(
                    ConfigWarning(
                        file: "railway.json",
                        field: "",
                        line: nil,
                        message: "railway.json is ignored because railway.toml exists; keep only one of them"
                    )
                )
            }
            return LocatedFile(url: toml, name: "railway.toml")
        }
        return json.map { LocatedFile(url: $0, name: "railway.json") }
    }

    /// The regular file at `name` inside `directory`, nil if there is none. A path or
    /// symlink that leads outside the directory is refused: repository content must not
    /// make the server read its own files.
    private static func containedFile(_ name: String, in directory: URL) throws(YardError) -> URL? {
        let base = directory.standardizedFileURL.resolvingSymlinksInPath()
        let url = base.appendingPathComponent(name).standardizedFileURL.resolvingSymlinksInPath()
        let basePrefix = base.path.hasSuffix("/") ? base.path : base.path + "/"
        guard url.path.hasPrefix(basePrefix) else {
            throw YardError(
                .invalidConfig,
                "'\(name)' leads outside the service directory; config files must be inside the repository"
            )
        }
        return isRegularFile(url) ? url : nil
    }

    private static func isRegularFile(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    private static func readText(_ url: URL, name: String) throws(YardError) -> String {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        guard size <= maximumFileSize else {
            throw YardError(
                .invalidConfig, "\(name) is \(size) bytes; config files are limited to \(maximumFileSize) bytes")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw YardError(.invalidConfig, "\(name) could not be read; check that the file is readable", cause: error)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw YardError(.invalidConfig, "\(name) is not UTF-8 text; save it as UTF-8")
        }
        return text
    }
}
