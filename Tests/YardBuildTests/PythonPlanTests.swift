import Foundation
import Testing
import YardCore

@testable import YardBuild

@Suite("Python plans")
struct PythonPlanTests {
    init() throws {
        try requireHostTools(["python3": "apt-get install -y python3 python3-venv"])
    }

    static let venvSetup = "python3 -m venv .venv"

    @Test func requirementsWithDjangoAndGunicorn() throws {
        let plan = try makePlan(fixture("python-django"))
        #expect(plan.provider == "python")
        #expect(plan.notes.first == "detected python from requirements.txt")
        #expect(plan.installCommands == [Self.venvSetup, "pip install -r requirements.txt"])
        #expect(plan.startCommand == "python manage.py migrate && gunicorn shop.wsgi --bind 0.0.0.0:$PORT")
        #expect(plan.notes.contains("detected a Django app (manage.py): serving shop.wsgi with gunicorn"))
        #expect(plan.environment["VIRTUAL_ENV"] == "/app/.venv")
        #expect(plan.environment["PATH"]?.hasPrefix("/app/.venv/bin:") == true)
        #expect(plan.cache == InstallCache(directories: [".venv"], keyFiles: ["requirements.txt"], skipInstallOnHit: true))
        #expect(plan.toolchains.map(\.name) == [Toolchain.python.name])
    }

    @Test func djangoWithoutGunicornRunsTheDevelopmentServer() throws {
        let plan = try makePlan(fixture("python-django-dev"))
        #expect(plan.startCommand == "python manage.py migrate && python manage.py runserver 0.0.0.0:$PORT")
        #expect(plan.notes.contains { $0.contains("Django's development server") })
    }

    @Test func djangoWSGIModuleFromAVariableIsNotEchoed() throws {
        let plan = try makePlan(fixture("python-django"), variables: ["RAILPACK_DJANGO_APP_NAME": "custom.wsgi"])
        #expect(plan.startCommand == "python manage.py migrate && gunicorn custom.wsgi --bind 0.0.0.0:$PORT")
        #expect(!plan.notes.joined().contains("custom.wsgi"))
    }

    @Test func djangoFindsAWSGIFileWithoutSettingsModule() throws {
        let app = try TemporaryApp([
            "manage.py": "import django\n", "requirements.txt": "Django\ngunicorn\n", "backend/wsgi.py": "application = None\n",
        ])
        #expect(try makePlan(app.source).startCommand == "python manage.py migrate && gunicorn backend.wsgi --bind 0.0.0.0:$PORT")
    }

    @Test func fastAPIModuleAndObjectAreFound() throws {
        let plan = try makePlan(fixture("python-fastapi"))
        #expect(plan.startCommand == "uvicorn app.main:api --host 0.0.0.0 --port $PORT")
        #expect(plan.notes.contains("detected a FastAPI app (app/main.py): starting it with uvicorn"))

        let src = try TemporaryApp([
            "requirements.txt": "fastapi\nuvicorn\n", "src/main.py": "from fastapi import FastAPI\napp: FastAPI = FastAPI()\n",
        ])
        #expect(try makePlan(src.source).startCommand == "uvicorn main:app --app-dir src --host 0.0.0.0 --port $PORT")

        // Without a server to run it, the plain entry point stays and the log says why.
        let noServer = try TemporaryApp(["requirements.txt": "fastapi\n", "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"])
        let noServerPlan = try makePlan(noServer.source)
        #expect(noServerPlan.startCommand == "python main.py")
        #expect(noServerPlan.notes.contains { $0.contains("uvicorn is not a dependency") })
    }

    @Test func flaskWithGunicornAndIncludedRequirements() throws {
        let plan = try makePlan(fixture("python-flask"))
        #expect(plan.startCommand == "gunicorn --bind 0.0.0.0:$PORT app:app")
        // Files included with -r are part of the install's key.
        #expect(plan.cache?.keyFiles == ["requirements.txt", "requirements/base.txt"])
    }

    @Test func flaskFactoryOnTheDevelopmentServer() throws {
        let plan = try makePlan(fixture("python-flask-factory"))
        #expect(plan.startCommand == "flask --app 'server:create_app()' run --host 0.0.0.0 --port $PORT")
    }

    @Test func poetryExportsItsLockIntoTheVenv() throws {
        let plan = try makePlan(fixture("python-poetry"))
        #expect(plan.detectedFrom == "main.py")
        #expect(
            plan.installCommands == [
                Self.venvSetup,
                "pip install poetry poetry-plugin-export",
                "poetry export --only main -f requirements.txt -o .venv/poetry-requirements.txt",
                "pip install --no-deps -r .venv/poetry-requirements.txt",
            ])
        #expect(plan.environment["POETRY_VIRTUALENVS_CREATE"] == "false")
        #expect(plan.cache == InstallCache(directories: [".venv"], keyFiles: ["pyproject.toml", "poetry.lock"], skipInstallOnHit: true))
        // fastapi's "standard" extra brings uvicorn.
        #expect(plan.startCommand == "uvicorn main:app --host 0.0.0.0 --port $PORT")
        #expect(plan.notes.contains("using poetry (poetry.lock)"))

        let unlocked = try makePlan(fixture("python-poetry-nolock"))
        #expect(unlocked.installCommands.contains("poetry lock"))
        #expect(unlocked.startCommand == "python bot.py")
    }

    @Test func pdmInstallsIntoTheActiveVenv() throws {
        let plan = try makePlan(fixture("python-pdm"))
        #expect(
            plan.installCommands == [
                Self.venvSetup, "pip install 'pdm[locked]'", "pdm install --check --prod --no-self --no-editable",
            ])
        #expect(plan.environment["VIRTUAL_ENV"] == "/app/.venv")
        #expect(plan.cache?.keyFiles == ["pyproject.toml", "pdm.lock"])
        #expect(plan.startCommand == "python main.py")
    }

    @Test func uvSyncsIntoTheProjectVenv() throws {
        let plan = try makePlan(fixture("python-uv"), hostVersions: sampleHostVersions)
        #expect(
            plan.installCommands == [
                Self.venvSetup, "pip install uv", "uv sync --frozen --no-install-project --no-dev --inexact",
            ])
        #expect(plan.environment["UV_PROJECT_ENVIRONMENT"] == "/app/.venv")
        #expect(plan.environment["UV_PYTHON_DOWNLOADS"] == "never")
        #expect(plan.cache?.keyFiles == ["pyproject.toml", "uv.lock"])
        #expect(plan.startCommand == "gunicorn --bind 0.0.0.0:$PORT app:web")
        #expect(plan.notes.contains("pyproject.toml requires-python asks python >=3.99; this machine has 3.11.7 — building with 3.11.7"))
    }

    @Test func plainPyprojectIsPipInstalledAndReRunOnACacheHit() throws {
        let plan = try makePlan(fixture("python-pyproject"))
        #expect(plan.installCommands == [Self.venvSetup, "pip install ."])
        #expect(plan.cache == InstallCache(directories: [".venv"], keyFiles: ["pyproject.toml"], skipInstallOnHit: false))
        #expect(plan.startCommand == "python start.py")
    }

    @Test func pipfileUsesPipenvInTheProjectVenv() throws {
        let plan = try makePlan(fixture("python-pipenv"))
        #expect(plan.installCommands == [Self.venvSetup, "pip install pipenv", "pipenv install --deploy --ignore-pipfile"])
        #expect(plan.environment["PIPENV_VENV_IN_PROJECT"] == "1")
        #expect(plan.cache?.keyFiles == ["Pipfile", "Pipfile.lock"])
        // fastapi[all] includes uvicorn.
        #expect(plan.startCommand == "uvicorn server:app --host 0.0.0.0 --port $PORT")

        let unlocked = try TemporaryApp(["Pipfile": "[packages]\nsix = \"*\"\n", "main.py": ""])
        #expect(try makePlan(unlocked.source).installCommands.last == "pipenv install --skip-lock")
    }

    @Test func plainScriptHasNothingToInstall() throws {
        let plan = try makePlan(fixture("python-plain"), hostVersions: sampleHostVersions)
        #expect(plan.installCommands == [Self.venvSetup])
        #expect(plan.cache == nil)
        #expect(plan.startCommand == "python main.py")
        #expect(plan.notes.contains(".python-version asks python 3.12; this machine has 3.11.7 — building with 3.11.7"))
        // Without the host's version (first planning pass) nothing is claimed.
        #expect(!(try makePlan(fixture("python-plain"))).notes.contains { $0.hasPrefix(".python-version") })
    }

    @Test func entryPointOrderFollowsRailpack() throws {
        let app = try TemporaryApp(["server.py": "", "app.py": ""])
        let plan = try makePlan(app.source)
        #expect(plan.startCommand == "python app.py")
        #expect(plan.installCommands == [Self.venvSetup])
    }

    @Test func brokenPyprojectNamesTheLine() throws {
        let app = try TemporaryApp(["pyproject.toml": "[project]\nname = \"x\"\ndependencies = [\n", "main.py": ""])
        let error = #expect(throws: YardError.self) { try makePlan(app.source) }
        #expect(error?.message.hasPrefix("pyproject.toml line ") == true)
        #expect(error?.message.contains("TOML syntax error") == true)
    }

    @Test func dependencyNamesAreReadLikePip() throws {
        let app = try TemporaryApp([
            "requirements.txt": """
                # comment
                --index-url https://pypi.org/simple
                Django_Rest.Framework>=3 ; python_version > "3.8"
                uvicorn[standard, watch]==0.30
                git+https://github.com/x/y.git#egg=My_Pkg
                httpx @ https://example.invalid/httpx.whl
                -e .
                """
        ])
        let project = try PythonProject(source: SourceTree(root: app.source))
        #expect(project.installer == .requirements)
        #expect(project.dependencies == ["django-rest-framework", "uvicorn", "uvicorn[standard]", "uvicorn[watch]", "my-pkg", "httpx"])
    }

    @Test func pep440RangesBecomeNpmRanges() {
        #expect(BuildPlanner.npmRange(fromPEP440: ">=3.10,<4") == ">=3.10 <4")
        #expect(BuildPlanner.npmRange(fromPEP440: "~=3.11") == "^3.11")
        #expect(BuildPlanner.npmRange(fromPEP440: "~=3.11.2") == "~3.11.2")
        #expect(BuildPlanner.npmRange(fromPEP440: "==3.12.*") == "3.12.x")
        #expect(BuildPlanner.npmRange(fromPEP440: ">=3.9, !=3.9.1") == ">=3.9")
        #expect(BuildPlanner.npmRange(fromPEP440: "pypy") == nil)
    }
}
