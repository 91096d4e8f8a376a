import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

@Suite("Node plans")
struct NodePlanTests {
    init() throws {
        try requireHostTools(["node": "apt-get install -y nodejs npm", "npm": "apt-get install -y npm"])
    }

    @Test func npmServerWithLockfile() throws {
        let plan = try makePlan(fixture("node-express"), hostVersions: sampleHostVersions)
        #expect(plan.provider == "node")
        #expect(plan.installCommands == ["npm ci"])
        #expect(plan.startCommand == "npm start")
        #expect(plan.cache == InstallCache(directories: ["node_modules"], keyFiles: ["package.json", "package-lock.json"], skipInstallOnHit: true))
        #expect(plan.environment["PATH"]?.hasPrefix("/app/node_modules/.bin:") == true)
        #expect(plan.notes.contains("package.json engines.node \">=18 <23\" matches this machine's node 20.20.2"))
        #expect(plan.toolchains.map(\.executable) == ["node", "npm"])
    }

    @Test func enginesAreCheckedAgainstTheHostsNode() throws {
        let host = ["node": "v20.20.2"]
        let matching = ["20", "20.x", "20.20", "^20.1.0", "~20.20.0", ">=18", ">= 18 < 21", "18 || 20", "16 - 20", "*", "x", "<=20.20.2", ">20.20.1", "v20.20.2", ""]
        let failing = [">=22", "^18", "~20.19.0", "<20", "16 - 19", "18.x || 22.x", ">20.20.2", "20.20.3", "<=20.19"]
        for range in matching + failing {
            let app = try TemporaryApp(["package.json": #"{"engines": {"node": "\#(range)"}, "main": "a.js"}"#])
            if matching.contains(range) {
                #expect(throws: Never.self, "range \(range)") { try makePlan(app.source, hostVersions: host) }
            } else {
                let error = planError(app.source, path: realHostPath, hostVersions: host)
                #expect(
                    error?.message
                        == "package.json engines.node asks for \"\(range)\", but this machine has node 20.20.2: install a node that matches, or widen engines.node",
                    "range \(range)"
                )
            }
        }
        // Not a range (an nvm alias): noted, not fatal.
        let alias = try TemporaryApp(["package.json": #"{"engines": {"node": "lts/*"}, "main": "a.js"}"#])
        #expect(try makePlan(alias.source, hostVersions: host).notes.contains { $0.contains("\"lts/*\" is not a version range") })
        // Old packages wrote engines as an array: ignored rather than failing the build.
        let array = try TemporaryApp(["package.json": #"{"engines": ["node >= 0.4"], "main": "a.js"}"#])
        #expect(try makePlan(array.source, hostVersions: host).startCommand == "node a.js")
    }

    @Test func viteSinglePageAppIsServedStatically() throws {
        let plan = try makePlan(fixture("node-vite"))
        #expect(plan.installCommands == ["npm install"])
        #expect(plan.buildCommands == ["npm run build"])
        #expect(plan.startCommand == "\(testPlatformExecutable) static-serve --root public-build --port $PORT")
        #expect(plan.notes.contains("single-page app (vite): serving public-build/ statically"))

        let overridden = try makePlan(fixture("node-vite"), variables: ["RAILPACK_SPA_OUTPUT_DIR": "out/"])
        #expect(overridden.startCommand.contains("--root out --port"))
        let disabled = try TemporaryApp([
            "package.json": #"{"scripts": {"build": "vite build"}, "devDependencies": {"vite": "5"}, "main": "server.js"}"#
        ])
        #expect(try makePlan(disabled.source, variables: ["RAILPACK_NO_SPA": "1"]).startCommand == "node server.js")
    }

    @Test func yarnProjectNeedsYarn() throws {
        let empty = try ToolDirectory()
        let error = planError(fixture("node-cra"), path: "\(empty.path):\(realHostPath)")
        #expect(error?.message.hasPrefix("detected node from package.json, but yarn (for yarn.lock) is not installed on this machine: install it with `npm install -g yarn`") == true)
        #expect(error?.message.contains("npm registry") == true)

        let yarn = try ToolDirectory(["yarn"])
        let plan = try makePlan(fixture("node-cra"), path: "\(yarn.path):\(realHostPath)")
        #expect(plan.installCommands == ["yarn install --frozen-lockfile"])
        #expect(plan.startCommand == "\(testPlatformExecutable) static-serve --root build --port $PORT")
        #expect(plan.notes.contains("single-page app (create-react-app): serving build/ statically"))
        #expect(plan.cache?.keyFiles == ["package.json", "yarn.lock"])

        // Replacing the install command drops the need for yarn.
        let npmInstead = RailpackConfig(steps: [RailpackStep(name: "install", commands: [.exec("npm install")])])
        let replaced = try makePlan(fixture("node-cra"), railpack: npmInstead)
        #expect(replaced.installCommands == ["npm install"])
        #expect(!replaced.toolchains.contains { $0.name == "yarn" })
        let fromVariable = try makePlan(fixture("node-cra"), variables: ["RAILPACK_INSTALL_CMD": "npm install"])
        #expect(fromVariable.cache == nil)
    }

    @Test func frameworkServers() throws {
        let pnpm = try ToolDirectory(["pnpm"])
        let next = try makePlan(fixture("node-next"), path: "\(pnpm.path):\(realHostPath)")
        #expect(next.installCommands == ["pnpm install --frozen-lockfile"])
        #expect(next.buildCommands == ["npm run build"])
        #expect(next.startCommand == "npx next start -p $PORT")
        #expect(next.notes.contains("pnpm-lock.yaml: installing with pnpm"))

        let nuxt = try makePlan(fixture("node-nuxt"))
        #expect(nuxt.startCommand == "node .output/server/index.mjs")

        let remix = try TemporaryApp(["package.json": #"{"scripts": {"build": "remix vite:build"}, "dependencies": {"@remix-run/serve": "2"}}"#, "vite.config.ts": ""])
        #expect(try makePlan(remix.source).startCommand == "npx remix-serve ./build/server/index.js")
        let svelte = try TemporaryApp([
            "package.json": #"{"scripts": {"build": "vite build"}, "devDependencies": {"@sveltejs/kit": "2", "@sveltejs/adapter-node": "5", "vite": "5"}}"#
        ])
        #expect(try makePlan(svelte.source).startCommand == "node build")
        let astroStatic = try TemporaryApp(["package.json": #"{"scripts": {"build": "astro build"}, "dependencies": {"astro": "4"}}"#])
        #expect(try makePlan(astroStatic.source).startCommand.contains("static-serve --root dist "))
    }

    @Test func packageWithoutDependenciesSkipsInstall() throws {
        let plan = try makePlan(fixture("node-plain"))
        #expect(plan.installCommands.isEmpty)
        #expect(plan.cache == nil)
        #expect(plan.startCommand == "node src/index.js")
        #expect(plan.notes.contains("package.json lists no dependencies: skipping npm install"))
        #expect(plan.toolchains.map(\.executable) == ["node"])
    }

    @Test func indexJSAndMissingStart() throws {
        let index = try TemporaryApp(["package.json": #"{"name": "demo", "version": "1.0.0"}"#, "index.js": ""])
        #expect(try makePlan(index.source).startCommand == "node index.js")

        let bare = try TemporaryApp(["package.json": "{}"])
        let error = planError(bare.source, path: realHostPath)
        #expect(error?.message.contains("detected node from package.json, but found no start command") == true)
    }

    @Test func invalidPackageJSONIsReported() throws {
        let app = try TemporaryApp(["package.json": "{ not json"])
        let error = planError(app.source, path: realHostPath)
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("package.json is not valid") == true)
    }
}
