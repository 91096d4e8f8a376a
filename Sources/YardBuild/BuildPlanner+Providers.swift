import Foundation
import YardCore

/// The providers Switchyard builds today. Each returns nil when its files are absent.
extension BuildPlanner {
    static let pythonEntryPoints = ["main.py", "app.py", "start.py", "bot.py", "hello.py", "server.py"]
    static let pythonMarkers = pythonEntryPoints + ["requirements.txt", "pyproject.toml", "Pipfile"]

    /// Dependencies go into a venv inside the app directory, so the artifact carries them
    /// and the app finds them through PATH without touching the host's Python.
    func python() -> ProviderPlan? {
        guard let marker = Self.pythonMarkers.first(where: source.isFile) else { return nil }
        let venv = appPath + "/.venv"
        var plan = ProviderPlan(
            provider: "python",
            detectedFrom: marker,
            startHint: "add main.py (or \(Self.pythonEntryPoints.dropFirst().joined(separator: ", ")))"
        )
        plan.setupCommands = ["python3 -m venv .venv"]
        if source.isFile("requirements.txt") {
            plan.installCommands = ["pip install -r requirements.txt"]
        } else if source.isFile("pyproject.toml") {
            plan.installCommands = ["pip install ."]
        } else if source.isFile("Pipfile") {
            // pipenv installs into the active venv (VIRTUAL_ENV) instead of making its own.
            plan.installCommands = ["pip install pipenv", source.isFile("Pipfile.lock") ? "pipenv install --deploy" : "pipenv install"]
        } else {
            plan.notes.append("no requirements.txt, pyproject.toml or Pipfile: no dependencies to install")
        }
        plan.environment = [
            "VIRTUAL_ENV": venv,
            "PATH": path(prepending: [venv + "/bin"]),
            // Unbuffered output so prints reach the logs as they happen.
            "PYTHONUNBUFFERED": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        ]
        if let entry = Self.pythonEntryPoints.first(where: source.isFile) {
            plan.startCommand = "python \(entry)"
        }
        return plan
    }

    func swift() throws(YardError) -> ProviderPlan? {
        guard source.isFile("Package.swift") else { return nil }
        var plan = ProviderPlan(
            provider: "swift",
            detectedFrom: "Package.swift",
            startHint: "declare an executable product in Package.swift"
        )
        plan.buildCommands = ["swift build -c release"]
        var manifest = SwiftManifest(manifestText: try source.text("Package.swift"))
        if manifest.executables.isEmpty {
            // Names built in code escape the text match; a target with main.swift is executable.
            manifest.executables = mainSwiftTargets()
        }
        if let product = manifest.preferredExecutable(directoryName: source.root.lastPathComponent) {
            plan.swiftExecutable = product
            plan.startCommand = Self.swiftStartCommand(product: product)
        }
        return plan
    }

    private func mainSwiftTargets() -> [String] {
        guard let targets = try? FileManager.default.contentsOfDirectory(atPath: source.url("Sources").path) else { return [] }
        return targets.sorted().filter { source.isFile("Sources/\($0)/main.swift") }
    }

    static func swiftStartCommand(product: String) -> String {
        ".build/release/\(product)".shellQuoted
    }

    func node() throws(YardError) -> ProviderPlan? {
        guard source.isFile("package.json") else { return nil }
        let data = try source.data("package.json")
        let package: PackageJSON
        do {
            package = try JSONDecoder().decode(PackageJSON.self, from: data)
        } catch {
            throw YardError(
                .buildFailed,
                "package.json is not valid: it must be a JSON object whose name, main, scripts and dependencies fields have the usual types",
                cause: error
            )
        }
        var plan = ProviderPlan(
            provider: "node",
            detectedFrom: "package.json",
            startHint: "add a start script or a main field to package.json, or an index.js"
        )
        if package.hasDependencies {
            plan.installCommands = [source.isFile("package-lock.json") ? "npm ci" : "npm install"]
        } else {
            plan.notes.append("package.json lists no dependencies: skipping npm install")
        }
        if package.script("build") != nil {
            plan.buildCommands = ["npm run build"]
        }
        if package.script("start") != nil {
            plan.startCommand = "npm start"
        } else if let main = nonEmpty(package.main) {
            plan.startCommand = "node \(main.shellQuoted)"
        } else if source.isFile("index.js") {
            plan.startCommand = "node index.js"
        }
        plan.environment = [
            "PATH": path(prepending: [appPath + "/node_modules/.bin"]),
            "NPM_CONFIG_UPDATE_NOTIFIER": "false",
            "NPM_CONFIG_FUND": "false",
        ]
        return plan
    }

    /// Served by the platform's own static server; nothing to build.
    func staticfile() throws(YardError) -> ProviderPlan? {
        let root: String
        let detectedFrom: String
        if let fromVariable = variable("RAILPACK_STATIC_FILE_ROOT") {
            root = fromVariable
            detectedFrom = "RAILPACK_STATIC_FILE_ROOT"
        } else if source.isFile("Staticfile") {
            root = Self.staticfileRoot(in: try source.text("Staticfile")) ?? (source.isDirectory("public") ? "public" : ".")
            detectedFrom = "Staticfile"
        } else if source.isDirectory("public") {
            root = "public"
            detectedFrom = "public/"
        } else if source.isFile("index.html") {
            root = "."
            detectedFrom = "index.html"
        } else {
            return nil
        }
        // The root is not echoed: it may come from a variable.
        guard SourceTree.staysInside(root), source.isDirectory(root) else {
            throw YardError(
                .buildFailed,
                "the static file root set by \(detectedFrom) is not a directory inside the app: use a relative path such as `public` or `dist`"
            )
        }
        let normalizedRoot = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        var plan = ProviderPlan(provider: "staticfile", detectedFrom: detectedFrom, startHint: "")
        plan.startCommand = "\(platformExecutable.shellQuoted) static-serve --root \(normalizedRoot.shellQuoted) --port $PORT"
        return plan
    }

    /// The `root:` entry of a Staticfile (a YAML file; only this key matters here).
    static func staticfileRoot(in text: String) -> String? {
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("root:") else { continue }
            let value = line.dropFirst("root:".count).trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    func shell() throws(YardError) -> ProviderPlan? {
        let script: String
        let detectedFrom: String
        if let fromVariable = variable("RAILPACK_SHELL_SCRIPT") {
            guard SourceTree.staysInside(fromVariable), source.isFile(fromVariable) else {
                throw YardError(
                    .buildFailed,
                    "the script named by RAILPACK_SHELL_SCRIPT is not a file inside the app: use a relative path such as `start.sh`"
                )
            }
            script = fromVariable
            detectedFrom = "RAILPACK_SHELL_SCRIPT"
        } else if source.isFile("start.sh") {
            script = "start.sh"
            detectedFrom = "start.sh"
        } else {
            return nil
        }
        var plan = ProviderPlan(provider: "shell", detectedFrom: detectedFrom, startHint: "")
        plan.startCommand = "bash \(script.shellQuoted)"
        return plan
    }
}
