import Foundation
import YardCore

/// The node provider: npm (or the package manager a lockfile names), an engines check
/// against the host's node, and start commands for servers, frameworks and
/// single-page apps.
extension BuildPlanner {
    enum NodePackageManager: String, Sendable {
        case npm, yarn, pnpm, bun
    }

    func node(detectedFrom: String) throws(YardError) -> ProviderPlan {
        let package = try readPackageJSON()
        var plan = ProviderPlan(
            provider: "node",
            detectedFrom: detectedFrom,
            startHint: "add a start script or a main field to package.json, or an index.js"
        )
        plan.tools = [ToolRequirement(.node)]
        plan.environment = [
            "PATH": path(prepending: [appPath + "/node_modules/.bin"]),
            "NPM_CONFIG_UPDATE_NOTIFIER": "false",
            "NPM_CONFIG_FUND": "false",
        ]

        let (manager, lockfile) = nodePackageManager(package)
        if package.hasDependencies {
            switch manager {
            case .npm:
                plan.tools.append(ToolRequirement(.npm, phase: .install))
                plan.installCommands = [lockfile == nil ? "npm install" : "npm ci"]
            case .yarn:
                let berry = source.isFile(".yarnrc.yml") || source.isFile(".yarnrc.yaml")
                    || (package.packageManager.flatMap { ToolVersion(firstIn: $0) }.map { $0.major >= 2 } ?? false)
                plan.installCommands = [berry ? "yarn install --immutable" : "yarn install --frozen-lockfile"]
            case .pnpm:
                plan.installCommands = ["pnpm install --frozen-lockfile"]
            case .bun:
                plan.installCommands = ["bun install --frozen-lockfile"]
            }
            if manager != .npm {
                let toolchain: Toolchain = manager == .yarn ? .yarn : manager == .pnpm ? .pnpm : .bun
                let reason = lockfile ?? "packageManager in package.json"
                plan.tools.append(
                    ToolRequirement(
                        toolchain, phase: .install, purpose: "for \(reason)",
                        advice: "\(manager.rawValue) comes from the npm registry (through corepack or npm), which may be unreachable "
                            + "from this machine; or remove \(reason) to install with npm"
                    ))
                plan.notes.append("\(reason): installing with \(manager.rawValue)")
            }
            plan.cache = InstallCache(
                directories: ["node_modules"], keyFiles: ["package.json"] + (lockfile.map { [$0] } ?? []), skipInstallOnHit: true)
            plan.installFailureHint = "the node dependencies could not be installed; the npm registry (registry.npmjs.org) may be unreachable from this machine"
        } else {
            plan.notes.append("package.json lists no dependencies: skipping \(manager.rawValue) install")
        }
        if package.script("build") != nil {
            plan.buildCommands = ["npm run build"]
        }

        if let note = try checkNodeEngines(package) { plan.notes.append(note) }

        let start = try nodeStart(package)
        plan.startCommand = start.command
        if let note = start.note { plan.notes.append(note) }
        return plan
    }

    func readPackageJSON() throws(YardError) -> PackageJSON {
        let data = try source.data("package.json")
        do {
            return try JSONDecoder().decode(PackageJSON.self, from: data)
        } catch {
            throw YardError(
                .buildFailed,
                "package.json is not valid: it must be a JSON object whose name, main, scripts and dependencies fields have the usual types",
                cause: error
            )
        }
    }

    /// The package manager `packageManager` or a lockfile names, and that lockfile.
    func nodePackageManager(_ package: PackageJSON) -> (NodePackageManager, String?) {
        let lockfiles: [(String, NodePackageManager)] = [
            ("pnpm-lock.yaml", .pnpm), ("bun.lockb", .bun), ("bun.lock", .bun), ("yarn.lock", .yarn),
            ("package-lock.json", .npm), ("npm-shrinkwrap.json", .npm),
        ]
        let present = lockfiles.first { source.isFile($0.0) }
        if let field = package.packageManager, let name = field.split(separator: "@").first,
            let manager = NodePackageManager(rawValue: String(name))
        {
            return (manager, lockfiles.first { $0.1 == manager && source.isFile($0.0) }?.0)
        }
        if let present { return (present.1, present.0) }
        return (.npm, nil)
    }

    /// engines.node against the host's node; a mismatch fails before anything runs.
    private func checkNodeEngines(_ package: PackageJSON) throws(YardError) -> String? {
        guard let wanted = nonEmpty(package.engines?["node"]), let host = hostVersion(of: "node") else { return nil }
        guard let range = VersionRange(wanted) else {
            return "package.json engines.node \"\(wanted)\" is not a version range Switchyard reads: not checked against node \(host)"
        }
        if !range.contains(host) {
            throw YardError(
                .buildFailed,
                "package.json engines.node asks for \"\(wanted)\", but this machine has node \(host): "
                    + "install a node that matches, or widen engines.node"
            )
        }
        return "package.json engines.node \"\(wanted)\" matches this machine's node \(host)"
    }

    // MARK: Start commands

    private func nodeStart(_ package: PackageJSON) throws(YardError) -> (command: String?, note: String?) {
        if package.script("start") != nil { return ("npm start", nil) }

        // Frameworks with a server of their own.
        if package.uses("next") {
            return ("npx next start -p $PORT", "detected a Next.js app: starting it with next start")
        }
        if package.uses("nuxt") {
            return ("node .output/server/index.mjs", "detected a Nuxt app: starting its built server")
        }
        if package.uses("@remix-run/serve") {
            let entry = hasViteConfig ? "./build/server/index.js" : "./build/index.js"
            return ("npx remix-serve \(entry)", "detected a Remix app: starting it with remix-serve")
        }
        if package.uses("@sveltejs/kit"), package.uses("@sveltejs/adapter-node") {
            return ("node build", "detected a SvelteKit app with adapter-node")
        }
        if package.uses("astro"), package.uses("@astrojs/node") {
            return ("HOST=0.0.0.0 node ./dist/server/entry.mjs", "detected an Astro app with the node adapter")
        }

        if let spa = try singlePageApp(package) {
            return (staticServeCommand(root: spa.root), "single-page app (\(spa.framework)): serving \(spa.root)/ statically")
        }

        if let main = nonEmpty(package.main) {
            return ("node \(main.shellQuoted)", nil)
        }
        if source.isFile("index.js") {
            return ("node index.js", nil)
        }
        return (nil, nil)
    }

    private var hasViteConfig: Bool {
        ["vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"].contains(where: source.isFile)
    }

    /// A front end whose build output is static files: which tool, and the folder to serve.
    private func singlePageApp(_ package: PackageJSON) throws(YardError) -> (framework: String, root: String)? {
        guard variable("RAILPACK_NO_SPA") == nil, let build = package.script("build") else { return nil }
        var found: (framework: String, root: String)?
        if package.uses("astro") {
            found = ("astro", "dist")
        } else if package.uses("@sveltejs/kit"), package.uses("@sveltejs/adapter-static") {
            found = ("sveltekit", "build")
        } else if package.uses("react-scripts") {
            found = ("create-react-app", "build")
        } else if package.uses("vite") || hasViteConfig || build.contains("vite build") {
            found = ("vite", viteOutDir() ?? "dist")
        } else if package.uses("@vue/cli-service") {
            found = ("vue-cli", "dist")
        } else if package.uses("parcel") {
            found = ("parcel", "dist")
        }
        guard var spa = found else { return nil }
        if let root = variable("RAILPACK_SPA_OUTPUT_DIR") {
            // The value is not echoed: it comes from a variable.
            guard SourceTree.staysInside(root) else {
                throw YardError(.buildFailed, "RAILPACK_SPA_OUTPUT_DIR is not a folder inside the app: use a relative path such as `dist`")
            }
            spa.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        }
        return spa
    }

    /// `build.outDir` from a vite config, when it is a plain string.
    private func viteOutDir() -> String? {
        for file in ["vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"] {
            guard let text = source.optionalText(file), let match = text.firstMatch(of: /outDir\s*:\s*["']([^"']+)["']/) else { continue }
            var root = Substring(match.1)
            while root.hasPrefix("./") { root = root.dropFirst(2) }
            if SourceTree.staysInside(String(root)), !root.isEmpty { return String(root) }
        }
        return nil
    }
}
