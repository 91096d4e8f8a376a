import Foundation
import YardConfig
import YardCore

/// How the server will read a folder once it is uploaded: the services of a root
/// `railpack.json` `services` map (seed 002), each from its own root with its entry's
/// config, or one service from a root directory with its config file. `yard up` checks
/// the config with it before uploading; `yard build --plan` plans from it.
struct ServiceLayout {
    /// One service's view of the upload.
    struct Service {
        /// The entry's name in a `services` map; nil for a folder without one.
        var name: String?
        /// The root directory relative to the upload; nil for the upload's root.
        var root: String?
        /// The root directory on disk.
        var directory: URL
        /// The `railpack.json` that applies: the service's entry, else the root's file.
        var railpack: RailpackConfig?
        /// The railway config merged over the railpack deploy settings.
        var config: ResolvedConfig
        /// The deploy settings the server would run with, the `RAILWAY_*` setting
        /// variables applied.
        var deploy: DeploySettings

        /// Warnings of every file read, each naming its file.
        var warnings: [String] {
            (railpack?.warnings ?? []).map(\.description) + config.warnings.map(\.description)
        }
    }

    /// The root `railpack.json` of `folder` when it has a `services` map.
    static func servicesMap(in folder: URL) throws(YardError) -> RailpackConfig? {
        guard let top = try ConfigLoader.loadRailpack(directory: folder), !top.services.isEmpty else { return nil }
        return top
    }

    /// The services `folder` deploys as.
    ///
    /// - With a root `services` map: every entry, or only `service` (an error names the
    ///   entries when it is not one of them). `root` cannot be combined with a map, which
    ///   sets each root itself.
    /// - Without one: a single service from `root` (a folder inside `folder`), with the
    ///   `railpack.json` there (or `RAILPACK_CONFIG_FILE` from `variables`) and `configPath`.
    ///
    /// `servicesMap: false` reads the folder as one service even when it has a map (a
    /// service that is not one of its entries). `shownAs` names the folder in errors when
    /// it is a scratch copy of the user's.
    static func resolve(
        folder: URL, environment: String, service: String? = nil, root: String? = nil, configPath: String? = nil,
        variables: [String: String] = [:], servicesMap useMap: Bool = true, shownAs: String? = nil
    ) throws(YardError) -> [Service] {
        let shown = shownAs ?? folder.path
        if useMap, let top = try servicesMap(in: folder) {
            if let root {
                throw YardError(
                    .invalidInput,
                    "\(top.fileName) has a `services` map, which sets each service's root directory; drop --root '\(root)'")
            }
            var entries = top.services
            if let service {
                guard let entry = entries.first(where: { $0.name == service }) else {
                    throw YardError(
                        .notFound,
                        "\(top.fileName) has no service '\(service)' in its `services` map; it has "
                            + top.services.map(\.name).joined(separator: ", "))
                }
                entries = [entry]
            }
            var services: [Service] = []
            for entry in entries {
                let root = entry.root == "." ? nil : entry.root
                var railpack = entry.config
                railpack.warnings = top.warnings + railpack.warnings
                let directory = try directory(root, in: folder, shownAs: shown, what: "\(top.fileName): services.\(entry.name).root")
                services.append(try load(name: entry.name, root: root, directory: directory, railpack: railpack,
                                         configPath: configPath, environment: environment, variables: variables))
            }
            return services
        }
        let normalized = try root.flatMap { (text: String) throws(YardError) -> String? in
            try ServiceSettingsChange.normalizedRoot(text)
        }
        let directory = try directory(normalized, in: folder, shownAs: shown, what: "the root directory")
        let fileName = variables["RAILPACK_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let railpack = try ConfigLoader.loadRailpack(directory: directory, fileName: fileName)
        return [try load(name: nil, root: normalized, directory: directory, railpack: railpack,
                         configPath: configPath, environment: environment, variables: variables)]
    }

    private static func load(
        name: String?, root: String?, directory: URL, railpack: RailpackConfig?, configPath: String?, environment: String,
        variables: [String: String]
    ) throws(YardError) -> Service {
        let config = try ConfigLoader.load(
            directory: directory, configPath: configPath, environment: environment, railpackDeploy: railpack?.deploy)
        var deploy = config.deploy
        // The same variables the server reads as deploy settings.
        deploy.applySettingVariables(variables)
        return Service(name: name, root: root, directory: directory, railpack: railpack, config: config, deploy: deploy)
    }

    private static func directory(_ root: String?, in folder: URL, shownAs: String, what: String) throws(YardError) -> URL {
        guard let root else { return folder }
        let directory = folder.appendingPathComponent(root)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw YardError(.invalidConfig, "\(what) is '\(root)', which is not a folder of \(shownAs)")
        }
        return directory
    }
}
