import Foundation

/// The fields of a node `package.json` the node provider reads.
struct PackageJSON: Decodable, Sendable, Equatable {
    var name: String?
    var main: String?
    var scripts: [String: String]?
    var dependencies: [String: String]?
    var devDependencies: [String: String]?
    /// `{"node": ">=20"}`; other shapes (old packages wrote arrays) count as absent.
    var engines: [String: String]?
    /// Corepack's `"pnpm@9.1.0"`.
    var packageManager: String?

    private enum CodingKeys: String, CodingKey {
        case name, main, scripts, dependencies, devDependencies, engines, packageManager
    }

    init(
        name: String? = nil, main: String? = nil, scripts: [String: String]? = nil,
        dependencies: [String: String]? = nil, devDependencies: [String: String]? = nil,
        engines: [String: String]? = nil, packageManager: String? = nil
    ) {
        self.name = name
        self.main = main
        self.scripts = scripts
        self.dependencies = dependencies
        self.devDependencies = devDependencies
        self.engines = engines
        self.packageManager = packageManager
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        main = try container.decodeIfPresent(String.self, forKey: .main)
        scripts = try container.decodeIfPresent([String: String].self, forKey: .scripts)
        dependencies = try container.decodeIfPresent([String: String].self, forKey: .dependencies)
        devDependencies = try container.decodeIfPresent([String: String].self, forKey: .devDependencies)
        // Informational fields: a wrong type must not fail a build that never needed them.
        engines = try? container.decodeIfPresent([String: String].self, forKey: .engines)
        packageManager = try? container.decodeIfPresent(String.self, forKey: .packageManager)
    }

    var hasDependencies: Bool {
        !(dependencies ?? [:]).isEmpty || !(devDependencies ?? [:]).isEmpty
    }

    /// Whether `name` is a dependency or a dev dependency.
    func uses(_ name: String) -> Bool {
        dependencies?[name] != nil || devDependencies?[name] != nil
    }

    func script(_ name: String) -> String? {
        guard let script = scripts?[name], !script.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return script
    }
}
