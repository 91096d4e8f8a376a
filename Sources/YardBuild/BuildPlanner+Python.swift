import Foundation
import YardCore

/// The python provider: a venv inside the app, the installer the manifests ask for, and
/// a start command for Django, FastAPI, Flask or a plain script.
extension BuildPlanner {
    static let pythonEntryPoints = ["main.py", "app.py", "start.py", "bot.py", "hello.py", "server.py"]
    static let pythonMarkers = pythonEntryPoints + ["requirements.txt", "pyproject.toml", "Pipfile"]

    /// Dependencies go into a venv inside the app directory, so the artifact carries them
    /// and the app finds them through PATH without touching the host's Python. Every
    /// installer (pip, uv, poetry, pdm, pipenv) comes from PyPI into that venv.
    func python(detectedFrom: String) throws(YardError) -> ProviderPlan {
        let project = try PythonProject(source: source)
        let venv = appPath + "/.venv"
        var plan = ProviderPlan(
            provider: "python",
            detectedFrom: detectedFrom,
            startHint: "add main.py (or \(Self.pythonEntryPoints.dropFirst().joined(separator: ", ")))"
        )
        plan.tools = [ToolRequirement(.python)]
        plan.setupCommands = ["python3 -m venv .venv"]
        plan.environment = [
            "VIRTUAL_ENV": venv,
            "PATH": path(prepending: [venv + "/bin"]),
            // Unbuffered output so prints reach the logs as they happen.
            "PYTHONUNBUFFERED": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        ]
        var skipInstallOnHit = true
        switch project.installer {
        case .requirements:
            plan.installCommands = ["pip install -r requirements.txt"]
        case .uv:
            plan.notes.append("using uv (\(project.lockfile ?? "pyproject.toml [tool.uv]"))")
            plan.installCommands = [
                "pip install uv",
                // --inexact: uv must not remove pip and itself, which are not in the lock.
                "uv sync \(project.lockfile == nil ? "" : "--frozen ")--no-install-project --no-dev --inexact",
            ]
            plan.environment["UV_PROJECT_ENVIRONMENT"] = venv
            plan.environment["UV_PYTHON_DOWNLOADS"] = "never"
            plan.environment["UV_LINK_MODE"] = "copy"
            // uv trusts only its bundled roots by default; pip uses the system's store, which
            // is the one that knows a TLS-inspecting proxy's authority.
            plan.environment["UV_SYSTEM_CERTS"] = "1"
        case .poetry:
            plan.notes.append("using poetry (\(project.lockfile ?? "pyproject.toml [tool.poetry]"))")
            // poetry's own installer needs PyPI's per-version JSON API; exporting the lock and
            // installing it with pip needs only the simple index, and honours the same pins.
            plan.installCommands =
                ["pip install poetry poetry-plugin-export"]
                + (project.lockfile == nil ? ["poetry lock"] : [])
                + [
                    "poetry export --only main -f requirements.txt -o .venv/poetry-requirements.txt",
                    "pip install --no-deps -r .venv/poetry-requirements.txt",
                ]
            plan.environment["POETRY_VIRTUALENVS_CREATE"] = "false"
            plan.environment["POETRY_NO_INTERACTION"] = "1"
        case .pdm:
            plan.notes.append("using pdm (\(project.lockfile ?? "pyproject.toml [tool.pdm]"))")
            // pdm[locked] pins pdm's own dependencies to versions it was released with.
            // pdm installs into the active venv (VIRTUAL_ENV), which is .venv.
            plan.installCommands = [
                "pip install 'pdm[locked]'",
                "pdm install \(project.lockfile == nil ? "" : "--check ")--prod --no-self --no-editable",
            ]
            plan.environment["PDM_CHECK_UPDATE"] = "false"
        case .pipProject:
            plan.installCommands = ["pip install ."]
            // `pip install .` copies the app's own code into the venv: re-run it over a hit.
            skipInstallOnHit = false
        case .pipenv:
            plan.notes.append("using pipenv (\(project.lockfile ?? "Pipfile"))")
            plan.installCommands = [
                "pip install pipenv",
                project.lockfile == nil ? "pipenv install --skip-lock" : "pipenv install --deploy --ignore-pipfile",
            ]
            // pipenv uses ./.venv, the venv made in setup, instead of one of its own.
            plan.environment["PIPENV_VENV_IN_PROJECT"] = "1"
            plan.environment["PIPENV_IGNORE_VIRTUALENVS"] = "1"
            plan.environment["PIPENV_YES"] = "1"
            plan.environment["PIPENV_NOSPIN"] = "1"
        case .none:
            plan.notes.append("no requirements.txt, pyproject.toml or Pipfile: no dependencies to install")
        }
        if !plan.installCommands.isEmpty {
            plan.cache = InstallCache(directories: [".venv"], keyFiles: project.keyFiles, skipInstallOnHit: skipInstallOnHit)
            plan.installFailureHint = "the python dependencies could not be installed from PyPI"
        }
        plan.versionWishes = pythonVersionWishes()

        let framework = pythonFrameworkStart(project)
        if let note = framework.note { plan.notes.append(note) }
        if let command = framework.command {
            plan.startCommand = command
        } else if let entry = Self.pythonEntryPoints.first(where: source.isFile) {
            plan.startCommand = "python \(entry)"
        }
        return plan
    }

    // MARK: Start commands

    /// Files where an app object is usually defined, in the order they are tried.
    static let pythonAppModules = [
        "main.py", "app.py", "server.py", "api.py", "application.py", "asgi.py", "wsgi.py", "run.py",
        "app/main.py", "app/__init__.py", "app/app.py", "app/server.py", "api/main.py", "src/main.py", "src/app.py",
    ]

    /// A framework's start command and what the log should say about it; both nil for a
    /// plain script, only the note when the framework was found but cannot be started.
    private func pythonFrameworkStart(_ project: PythonProject) -> (command: String?, note: String?) {
        if source.isFile("manage.py"), project.uses("django") {
            return djangoStart(project)
        }
        if project.uses("fastapi") {
            if let app = findPythonApp(constructor: "FastAPI") {
                if project.uses("uvicorn") || project.uses("fastapi[standard]") || project.uses("fastapi[all]") {
                    return (
                        "uvicorn \(app.target)\(app.appDirOption(flag: "--app-dir")) --host 0.0.0.0 --port $PORT",
                        "detected a FastAPI app (\(app.file)): starting it with uvicorn"
                    )
                }
                if project.uses("hypercorn") {
                    return ("hypercorn \(app.target) --bind 0.0.0.0:$PORT", "detected a FastAPI app (\(app.file)): starting it with hypercorn")
                }
                return (nil, "detected a FastAPI app (\(app.file)), but uvicorn is not a dependency: add uvicorn to start it with uvicorn")
            }
        }
        if project.uses("flask") {
            if let app = findPythonApp(constructor: "Flask") {
                if project.uses("gunicorn") {
                    return (
                        "gunicorn --bind 0.0.0.0:$PORT\(app.appDirOption(flag: "--chdir")) \(app.target)",
                        "detected a Flask app (\(app.file)): starting it with gunicorn"
                    )
                }
                return (
                    "flask --app \(app.target) run --host 0.0.0.0 --port $PORT",
                    "detected a Flask app (\(app.file)); gunicorn is not a dependency, so it runs on Flask's development server"
                )
            }
        }
        return (nil, nil)
    }

    /// Where a framework's app object lives, as a server names it (`app.main:app`).
    struct PythonApp {
        var file: String
        var module: String
        /// `app`, or a factory call such as `create_app()`.
        var object: String
        /// A folder servers must import from (`src`), when the file is under one.
        var appDirectory: String?

        var target: String { "\(module):\(object)".shellQuoted }

        func appDirOption(flag: String) -> String {
            appDirectory.map { " \(flag) \($0)" } ?? ""
        }
    }

    /// The first module that builds an app with `constructor(` (FastAPI, Flask) at top level.
    func findPythonApp(constructor: String) -> PythonApp? {
        for file in Self.pythonAppModules {
            guard let text = source.optionalText(file) else { continue }
            let pattern = try? Regex("(?m)^([A-Za-z_][A-Za-z0-9_]*)\\s*(?::\\s*[A-Za-z_.]+\\s*)?=\\s*\(constructor)\\(")
            var object: String?
            if let pattern, let assignment = text.firstMatch(of: pattern), let name = assignment.output[1].substring {
                object = String(name)
            } else if text.contains("\(constructor)("), text.firstMatch(of: /(?m)^def create_app\(/) != nil {
                object = "create_app()"
            }
            guard let object else { continue }
            var path = Substring(file.dropLast(".py".count))
            var appDirectory: String?
            if path.hasPrefix("src/") {
                appDirectory = "src"
                path = path.dropFirst(4)
            }
            if path.hasSuffix("/__init__") { path = path.dropLast("/__init__".count) }
            return PythonApp(file: file, module: path.replacingOccurrences(of: "/", with: "."), object: object, appDirectory: appDirectory)
        }
        return nil
    }

    /// Railpack's Django start: the migrations run first, so a fresh app starts with its
    /// tables (and a deploy whose migration fails never goes live).
    private func djangoStart(_ project: PythonProject) -> (command: String?, note: String?) {
        let migrate = "python manage.py migrate && "
        let runserver = migrate + "python manage.py runserver 0.0.0.0:$PORT"
        guard project.uses("gunicorn") else {
            return (runserver, "detected a Django app (manage.py); gunicorn is not a dependency, so it runs on Django's development server")
        }
        // The value is not echoed: it comes from a variable.
        if let fromVariable = variable("RAILPACK_DJANGO_APP_NAME") {
            return (migrate + "gunicorn \(fromVariable.shellQuoted) --bind 0.0.0.0:$PORT", "detected a Django app (manage.py): WSGI module from RAILPACK_DJANGO_APP_NAME")
        }
        if let module = djangoWSGIModule() {
            return (migrate + "gunicorn \(module.shellQuoted) --bind 0.0.0.0:$PORT", "detected a Django app (manage.py): serving \(module) with gunicorn")
        }
        return (runserver, "detected a Django app (manage.py), but found no wsgi.py: running Django's development server")
    }

    func djangoWSGIModule() -> String? {
        let manage = source.optionalText("manage.py") ?? ""
        let settingsModule = manage.firstMatch(of: /DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z0-9_.]+)["']/).map { String($0.1) }
        if let settingsModule {
            let base = settingsModule.replacingOccurrences(of: ".", with: "/")
            for file in ["\(base).py", "\(base)/__init__.py", "\(base)/base.py", "\(base)/production.py"] {
                guard let settings = source.optionalText(file),
                    let match = settings.firstMatch(of: /(?m)^WSGI_APPLICATION\s*=\s*["']([A-Za-z0-9_.]+)["']/)
                else { continue }
                var parts = match.1.split(separator: ".").map(String.init)
                guard parts.count >= 2 else { continue }
                let object = parts.removeLast()
                let module = parts.joined(separator: ".")
                guard source.isFile(module.replacingOccurrences(of: ".", with: "/") + ".py") else { continue }
                return object == "application" ? module : "\(module):\(object)"
            }
            if let package = settingsModule.split(separator: ".").first, source.isFile("\(package)/wsgi.py") {
                return "\(package).wsgi"
            }
        }
        let folders = (try? source.entries()) ?? []
        return folders.first { source.isFile("\($0)/wsgi.py") }.map { "\($0).wsgi" }
    }

    // MARK: Versions

    /// Python versions the app states, checked against the host's as notes.
    private func pythonVersionWishes() -> [(toolchain: String, range: String, origin: String)] {
        var wishes: [(toolchain: String, range: String, origin: String)] = []
        // "3.12" means any 3.12.x, "3.12.1" that release; pyenv names ("pypy3.10") are skipped.
        if let line = source.optionalText(".python-version")?.split(whereSeparator: \.isNewline).first,
            let match = line.trimmingCharacters(in: .whitespaces).wholeMatch(of: /\d+(?:\.\d+){0,2}/)
        {
            wishes.append((toolchain: "python", range: String(match.output), origin: ".python-version"))
        }
        if let runtime = source.optionalText("runtime.txt"), let match = runtime.firstMatch(of: /python-(\d+\.\d+(?:\.\d+)?)/) {
            wishes.append((toolchain: "python", range: String(match.1), origin: "runtime.txt"))
        }
        if let pyproject = try? TOMLDocument.parse(source, "pyproject.toml"),
            let requires = pyproject.table("project")?.string("requires-python"),
            let range = Self.npmRange(fromPEP440: requires)
        {
            wishes.append((toolchain: "python", range: range, origin: "pyproject.toml requires-python"))
        }
        return wishes
    }

    /// A PEP 440 specifier set (">=3.10,<4", "~=3.11", "==3.12.*") as an npm-style range;
    /// `!=` clauses are dropped. nil when a clause is not understood.
    static func npmRange(fromPEP440 specifier: String) -> String? {
        var clauses: [String] = []
        for rawClause in specifier.split(separator: ",") {
            let clause = rawClause.trimmingCharacters(in: .whitespaces)
            guard let match = clause.wholeMatch(of: /(~=|===|==|!=|>=|<=|>|<)\s*([0-9][0-9.*]*)/) else { return nil }
            let version = String(match.2)
            switch match.1 {
            case "~=": clauses.append((version.split(separator: ".").count >= 3 ? "~" : "^") + version)
            case "==", "===": clauses.append(version.replacingOccurrences(of: "*", with: "x"))
            case "!=": continue
            default: clauses.append("\(match.1)\(version)")
            }
        }
        return clauses.isEmpty ? nil : clauses.joined(separator: " ")
    }
}
