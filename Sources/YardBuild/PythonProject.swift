import Foundation
import YardCore

/// What the python provider reads from an app's manifests: which installer applies and
/// which packages it depends on. A light reading: names only, no version resolution.
struct PythonProject: Sendable {
    enum Installer: String, Sendable, Equatable {
        /// requirements.txt with pip.
        case requirements
        case uv, poetry, pdm
        /// A pyproject.toml with no tool of its own: `pip install .`.
        case pipProject
        case pipenv
        /// No manifest: nothing to install.
        case none
    }

    var installer: Installer
    /// Normalised names (`python-dateutil`), plus `name[extra]` for each extra asked for.
    var dependencies: Set<String>
    /// The manifest and lockfiles the installer reads, for the install cache key.
    var keyFiles: [String]
    /// A lockfile the installer will honour, when there is one.
    var lockfile: String?

    init(source: SourceTree) throws(YardError) {
        let pyproject = source.isFile("pyproject.toml") ? try TOMLDocument.parse(source, "pyproject.toml") : nil
        let pipfile = source.isFile("Pipfile") ? try TOMLDocument.parse(source, "Pipfile") : nil
        let tool = pyproject?.table("tool")

        var dependencies: Set<String> = []
        var requirementFiles: Set<String> = []
        if source.isFile("requirements.txt") {
            Self.readRequirements("requirements.txt", in: source, into: &dependencies, visited: &requirementFiles)
        }
        if let project = pyproject?.table("project") {
            for spec in project.strings("dependencies") { Self.insert(spec, into: &dependencies) }
        }
        if let poetry = tool?.table("poetry.dependencies") {
            for name in poetry.keys where name.lowercased() != "python" {
                Self.insert(name, into: &dependencies)
                // `fastapi = {extras = ["standard"], version = "…"}`
                for extra in poetry.table(name)?.strings("extras") ?? [] {
                    dependencies.insert("\(Self.normalize(name))[\(extra.lowercased())]")
                }
            }
        }
        if let packages = pipfile?.table("packages") {
            for name in packages.keys {
                Self.insert(name, into: &dependencies)
                for extra in packages.table(name)?.strings("extras") ?? [] {
                    dependencies.insert("\(Self.normalize(name))[\(extra.lowercased())]")
                }
            }
        }
        self.dependencies = dependencies

        // Railpack's order: requirements.txt first, then uv, poetry, pdm; Pipfile last.
        if source.isFile("requirements.txt") {
            installer = .requirements
            // Files it includes with -r decide the install too.
            keyFiles = ["requirements.txt"] + requirementFiles.subtracting(["requirements.txt"]).sorted()
            lockfile = nil
        } else if pyproject != nil, source.isFile("uv.lock") || tool?.table("uv") != nil {
            installer = .uv
            lockfile = source.isFile("uv.lock") ? "uv.lock" : nil
            keyFiles = ["pyproject.toml", "uv.lock"]
        } else if pyproject != nil, source.isFile("poetry.lock") || tool?.table("poetry") != nil {
            installer = .poetry
            lockfile = source.isFile("poetry.lock") ? "poetry.lock" : nil
            keyFiles = ["pyproject.toml", "poetry.lock"]
        } else if pyproject != nil, source.isFile("pdm.lock") || tool?.table("pdm") != nil {
            installer = .pdm
            lockfile = source.isFile("pdm.lock") ? "pdm.lock" : nil
            keyFiles = ["pyproject.toml", "pdm.lock"]
        } else if pyproject != nil {
            installer = .pipProject
            keyFiles = ["pyproject.toml"]
            lockfile = nil
        } else if pipfile != nil {
            installer = .pipenv
            lockfile = source.isFile("Pipfile.lock") ? "Pipfile.lock" : nil
            keyFiles = ["Pipfile", "Pipfile.lock"]
        } else {
            installer = .none
            keyFiles = []
            lockfile = nil
        }
    }

    func uses(_ name: String) -> Bool {
        dependencies.contains(Self.normalize(name))
    }

    /// PEP 503 normalisation: lowercase, runs of `-_.` become `-`.
    static func normalize(_ name: String) -> String {
        name.lowercased().replacing(/[-_.]+/, with: "-")
    }

    /// The project name and extras of a PEP 508 requirement ("uvicorn[standard]>=0.30 ; …").
    static func requirement(_ spec: String) -> (name: String, extras: [String])? {
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        guard let match = trimmed.prefixMatch(of: /([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?/) else { return nil }
        let extras = match.2.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } } ?? []
        return (normalize(String(match.1)), extras.filter { !$0.isEmpty })
    }

    private static func insert(_ spec: String, into dependencies: inout Set<String>) {
        guard let (name, extras) = requirement(spec) else { return }
        dependencies.insert(name)
        for extra in extras { dependencies.insert("\(name)[\(extra)]") }
    }

    /// Reads a requirements file, following `-r other.txt` inside the source.
    private static func readRequirements(
        _ path: String, in source: SourceTree, into dependencies: inout Set<String>, visited: inout Set<String>
    ) {
        guard visited.insert(path).inserted, let text = source.optionalText(path) else { return }
        let directory = (path as NSString).deletingLastPathComponent
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if let hash = line.range(of: " #") { line = line[..<hash.lowerBound] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let include = trimmed.firstMatch(of: /^(?:-r|--requirement)[\s=]+(\S+)/) {
                let included = directory.isEmpty ? String(include.1) : "\(directory)/\(include.1)"
                if SourceTree.staysInside(included) {
                    readRequirements(included, in: source, into: &dependencies, visited: &visited)
                }
                continue
            }
            if trimmed.hasPrefix("-") { continue }
            // `name @ https://…` and `git+https://…#egg=name`.
            if let egg = trimmed.firstMatch(of: /#egg=([A-Za-z0-9._-]+)/) {
                dependencies.insert(normalize(String(egg.1)))
                continue
            }
            if trimmed.contains("://") && !trimmed.contains("@") { continue }
            insert(trimmed, into: &dependencies)
        }
    }
}
