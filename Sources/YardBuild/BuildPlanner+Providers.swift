import Foundation
import YardCore

/// Railpack's providers in its detection order, plus Switchyard's swift provider.
enum Provider: String, CaseIterable, Sendable {
    case php, golang, java, rust, ruby, elixir, python
    /// Switchyard's own; Railpack has none for Swift.
    case swift
    case deno, dotnet, node, gleam, cpp, staticfile, shell

    /// The root entries that select it, for messages ("go.mod, go.work, main.go").
    var markers: [String] {
        switch self {
        case .php: ["index.php", "composer.json"]
        case .golang: ["go.mod", "go.work", "main.go"]
        case .java: ["pom.xml (or another pom.*)", "gradlew", "build.gradle", "build.gradle.kts"]
        case .rust: ["Cargo.toml"]
        case .ruby: ["Gemfile"]
        case .elixir: ["mix.exs"]
        case .python: BuildPlanner.pythonMarkers
        case .swift: ["Package.swift"]
        case .deno: ["deno.json", "deno.jsonc"]
        case .dotnet: ["*.csproj"]
        case .node: ["package.json"]
        case .gleam: ["gleam.toml"]
        case .cpp: ["CMakeLists.txt", "meson.build"]
        case .staticfile: ["Staticfile", "public/", "index.html"]
        case .shell: ["start.sh"]
        }
    }
}

extension BuildPlanner {
    // MARK: Detection

    func detect() throws(YardError) -> ProviderPlan {
        if let name = request.railpack?.provider.flatMap(nonEmpty) {
            guard let provider = Provider(rawValue: name.lowercased()) else {
                throw YardError(
                    .buildFailed,
                    "\(request.railpack?.fileName ?? "railpack.json"): provider '\(name)' is not one of "
                        + Provider.allCases.map(\.rawValue).joined(separator: ", ")
                )
            }
            let marker = try self.marker(for: provider)
            // Chosen by name, java also builds plain `.java` sources with javac.
            let javac = provider == .java ? try javaMainClass() != nil : false
            if marker == nil, provider != .staticfile, !javac {
                throw YardError(
                    .buildFailed,
                    "railpack.json sets provider \(provider.rawValue), but none of its files "
                        + "(\(provider.markers.joined(separator: ", "))) is at the root of the source: "
                        + "add one, or remove provider from railpack.json"
                )
            }
            var plan = try providerPlan(provider, detectedFrom: marker ?? "railpack.json")
            plan.forced = true
            return plan
        }
        for provider in Provider.allCases {
            if let marker = try marker(for: provider) {
                return try providerPlan(provider, detectedFrom: marker)
            }
        }
        throw YardError(
            .buildFailed,
            "could not detect how to build this app: looked for "
                + Provider.allCases.map { "\($0.rawValue) (\($0.markers.joined(separator: ", ")))" }.joined(separator: ", ")
                + " at the root of the source; add one of them, set RAILPACK_STATIC_FILE_ROOT or RAILPACK_SHELL_SCRIPT, "
                + "or set provider in railpack.json"
        )
    }

    /// The entry that selects `provider` in this source, or nil.
    func marker(for provider: Provider) throws(YardError) -> String? {
        switch provider {
        case .php: return ["index.php", "composer.json"].first(where: source.isFile)
        case .golang: return ["go.mod", "go.work", "main.go"].first(where: source.isFile)
        case .java:
            let entries = try source.entries()
            if let pom = entries.first(where: { $0.hasPrefix("pom.") && source.isFile($0) }) { return pom }
            return ["gradlew", "build.gradle", "build.gradle.kts"].first(where: source.isFile)
        case .rust: return source.isFile("Cargo.toml") ? "Cargo.toml" : nil
        case .ruby: return source.isFile("Gemfile") ? "Gemfile" : nil
        case .elixir: return source.isFile("mix.exs") ? "mix.exs" : nil
        case .python: return Self.pythonMarkers.first(where: source.isFile)
        case .swift: return source.isFile("Package.swift") ? "Package.swift" : nil
        case .deno: return ["deno.json", "deno.jsonc"].first(where: source.isFile)
        case .dotnet: return try source.entries().first { $0.hasSuffix(".csproj") && source.isFile($0) }
        case .node: return source.isFile("package.json") ? "package.json" : nil
        case .gleam: return source.isFile("gleam.toml") ? "gleam.toml" : nil
        case .cpp: return ["CMakeLists.txt", "meson.build"].first(where: source.isFile)
        case .staticfile:
            if variable("RAILPACK_STATIC_FILE_ROOT") != nil { return "RAILPACK_STATIC_FILE_ROOT" }
            if source.isFile("Staticfile") { return "Staticfile" }
            if source.isDirectory("public") { return "public/" }
            return source.isFile("index.html") ? "index.html" : nil
        case .shell:
            if variable("RAILPACK_SHELL_SCRIPT") != nil { return "RAILPACK_SHELL_SCRIPT" }
            return source.isFile("start.sh") ? "start.sh" : nil
        }
    }

    func providerPlan(_ provider: Provider, detectedFrom: String) throws(YardError) -> ProviderPlan {
        switch provider {
        case .php: return try php(detectedFrom: detectedFrom)
        case .golang: return try golang(detectedFrom: detectedFrom)
        case .java: return try java(detectedFrom: detectedFrom)
        case .rust: return try rust(detectedFrom: detectedFrom)
        case .ruby: return ruby(detectedFrom: detectedFrom)
        case .elixir: return elixir(detectedFrom: detectedFrom)
        case .python: return try python(detectedFrom: detectedFrom)
        case .swift: return try swift(detectedFrom: detectedFrom)
        case .deno: return try deno(detectedFrom: detectedFrom)
        case .dotnet: return try dotnet(detectedFrom: detectedFrom)
        case .node: return try node(detectedFrom: detectedFrom)
        case .gleam: return try gleam(detectedFrom: detectedFrom)
        case .cpp: return try cpp(detectedFrom: detectedFrom)
        case .staticfile: return try staticfile(detectedFrom: detectedFrom)
        case .shell: return try shell(detectedFrom: detectedFrom)
        }
    }

    // MARK: staticfile, shell

    /// Served by the platform's own static server; nothing to build.
    func staticfile(detectedFrom: String) throws(YardError) -> ProviderPlan {
        let root: String
        switch detectedFrom {
        case "RAILPACK_STATIC_FILE_ROOT": root = variable("RAILPACK_STATIC_FILE_ROOT") ?? "."
        case "Staticfile": root = Self.staticfileRoot(in: try source.text("Staticfile")) ?? (source.isDirectory("public") ? "public" : ".")
        case "public/": root = "public"
        default: root = "."
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
        plan.startCommand = staticServeCommand(root: normalizedRoot)
        return plan
    }

    /// The platform's static file server over `root` (relative to the app); in an image,
    /// where the platform's binary is not, busybox's httpd from the environment image.
    func staticServeCommand(root: String) -> String {
        if planningForImage { return "busybox httpd -f -v -p $PORT -h \(root.shellQuoted)" }
        return "\(platformExecutable.shellQuoted) static-serve --root \(root.shellQuoted) --port $PORT"
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

    func shell(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var script = "start.sh"
        if detectedFrom == "RAILPACK_SHELL_SCRIPT", let fromVariable = variable("RAILPACK_SHELL_SCRIPT") {
            guard SourceTree.staysInside(fromVariable), source.isFile(fromVariable) else {
                throw YardError(
                    .buildFailed,
                    "the script named by RAILPACK_SHELL_SCRIPT is not a file inside the app: use a relative path such as `start.sh`"
                )
            }
            script = fromVariable
        }
        var plan = ProviderPlan(provider: "shell", detectedFrom: detectedFrom, startHint: "")
        plan.startCommand = "bash \(script.shellQuoted)"
        return plan
    }

    // MARK: php

    func php(detectedFrom: String) throws(YardError) -> ProviderPlan {
        let composer = source.isFile("composer.json")
        var plan = ProviderPlan(provider: "php", detectedFrom: detectedFrom, startHint: "add an index.php")
        plan.tools = [ToolRequirement(.php(withComposer: composer))]
        if composer {
            plan.tools.append(ToolRequirement(.composer, phase: .install))
            plan.installCommands = ["composer install --no-dev --optimize-autoloader --no-interaction"]
            plan.installFailureHint = "composer downloads packages from packagist.org, which may be unreachable from this machine"
            plan.cache = InstallCache(directories: ["vendor"], keyFiles: ["composer.json", "composer.lock"], skipInstallOnHit: true)
        }
        if source.isFile("artisan") {
            plan.notes.append("detected a Laravel app (artisan)")
            plan.startCommand = "php artisan serve --host=0.0.0.0 --port=$PORT"
        } else if source.isFile("public/index.php") {
            plan.startCommand = "php -S 0.0.0.0:$PORT -t public"
        } else if source.isFile("index.php") {
            plan.startCommand = "php -S 0.0.0.0:$PORT"
        }
        return plan
    }

    // MARK: golang

    func golang(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(
            provider: "golang", detectedFrom: detectedFrom,
            startHint: "add a main package at the root or under cmd/, or set RAILPACK_GO_BIN")
        plan.tools = [ToolRequirement(.go)]
        let package: String?
        if let bin = variable("RAILPACK_GO_BIN") {
            // The name is not echoed: it comes from a variable.
            guard SourceTree.staysInside(bin), source.isDirectory("cmd/\(bin)") else {
                throw YardError(.buildFailed, "RAILPACK_GO_BIN does not name a folder under cmd/: use the name of one, such as `server`")
            }
            package = "./cmd/\(bin)"
        } else if try source.entries().contains(where: { $0.hasSuffix(".go") && source.isFile($0) }) {
            package = "."
        } else if let command = source.entries(in: "cmd").first(where: { source.isDirectory("cmd/\($0)") }) {
            package = "./cmd/\(command)"
        } else if source.isFile("go.work") {
            package = try goWorkModules().first { source.isFile("\($0)/main.go") }.map { "./\($0)" }
        } else {
            package = nil
        }
        if let package {
            plan.buildCommands = ["go build -ldflags=\"-w -s\" -o out \(package.shellQuoted)"]
            plan.startCommand = "./out"
        }
        plan.environment = ["GOTOOLCHAIN": "local", "CGO_ENABLED": "0"]
        if source.isDirectory("vendor") {
            plan.environment["GOFLAGS"] = "-mod=vendor"
            plan.notes.append("vendor/ found: building with -mod=vendor, no module downloads")
        } else if let sum = source.optionalText("go.sum"), !sum.isEmpty {
            plan.notes.append("go.sum lists modules: the Go module proxy may be unreachable from this machine; `go mod vendor` builds offline")
        }
        plan.buildFailureHint =
            "if go could not download modules, the Go module proxy may be unreachable from this machine: commit a vendor/ folder (`go mod vendor`)"
        if let goLine = source.optionalText("go.mod")?.firstMatch(of: /(?m)^go\s+(\d+(?:\.\d+){0,2})\s*$/) {
            plan.versionWishes.append((toolchain: "go", range: ">=\(goLine.1)", origin: "go.mod"))
        }
        return plan
    }

    /// The module folders a go.work `use` lists, in order.
    private func goWorkModules() throws(YardError) -> [String] {
        let text = try source.text("go.work")
        var modules: [String] = []
        var inBlock = false
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.split(separator: "//").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.hasPrefix("use (") || line == "use(" { inBlock = true; continue }
            if inBlock, line == ")" { inBlock = false; continue }
            var entry: String?
            if inBlock, !line.isEmpty { entry = line }
            if line.hasPrefix("use "), !line.contains("(") { entry = String(line.dropFirst(4)) }
            if var entry {
                entry = entry.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
                while entry.hasPrefix("./") { entry.removeFirst(2) }
                if SourceTree.staysInside(entry), !entry.isEmpty { modules.append(entry) }
            }
        }
        return modules
    }

    // MARK: rust

    func rust(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "rust", detectedFrom: detectedFrom, startHint: "add a [[bin]] or src/main.rs to Cargo.toml's package")
        plan.tools = [ToolRequirement(.rust)]
        plan.buildCommands = ["cargo build --release"]
        let manifest = try TOMLDocument.parse(source, "Cargo.toml")
        let bins = manifest.tables("bin").compactMap { $0.string("name") }
        if let bin = bins.first ?? manifest.table("package")?.string("name") {
            plan.startCommand = "./target/release/\(bin.shellQuoted)"
        } else if manifest.table("workspace") != nil {
            plan.notes.append("Cargo.toml is a workspace: set deploy.startCommand to the binary to run (./target/release/<name>)")
        }
        if source.isDirectory("vendor") || source.isFile(".cargo/config.toml") {
            plan.notes.append("vendored crates or .cargo/config.toml found: cargo uses them")
        } else {
            plan.notes.append("crates.io may be unreachable from this machine: `cargo vendor` builds offline")
        }
        plan.buildFailureHint = "if cargo could not download crates, crates.io may be unreachable from this machine: vendor them with `cargo vendor`"
        if let wanted = manifest.table("package")?.string("rust-version") {
            plan.versionWishes.append((toolchain: "rust", range: ">=\(wanted)", origin: "Cargo.toml rust-version"))
        }
        return plan
    }

    // MARK: ruby

    func ruby(detectedFrom: String) -> ProviderPlan {
        var plan = ProviderPlan(provider: "ruby", detectedFrom: detectedFrom, startHint: "add a config.ru, a Rails app or an app.rb")
        plan.tools = [ToolRequirement(.ruby), ToolRequirement(.bundler, phase: .install)]
        plan.installCommands = ["bundle install"]
        plan.environment = ["BUNDLE_PATH": "vendor/bundle", "BUNDLE_WITHOUT": "development:test", "RAILS_ENV": "production", "RACK_ENV": "production"]
        plan.cache = InstallCache(directories: ["vendor/bundle"], keyFiles: ["Gemfile", "Gemfile.lock"], skipInstallOnHit: true)
        plan.installFailureHint = "bundler downloads gems from rubygems.org, which may be unreachable from this machine"
        if source.isFile("bin/rails") || source.isFile("config/application.rb") {
            plan.notes.append("detected a Rails app")
            plan.startCommand = "bundle exec rails server -b 0.0.0.0 -p $PORT"
        } else if source.isFile("config.ru") {
            plan.startCommand = "bundle exec rackup --host 0.0.0.0 --port $PORT"
        } else if let main = ["app.rb", "main.rb", "server.rb"].first(where: source.isFile) {
            plan.startCommand = "bundle exec ruby \(main)"
        }
        return plan
    }

    // MARK: elixir

    func elixir(detectedFrom: String) -> ProviderPlan {
        var plan = ProviderPlan(provider: "elixir", detectedFrom: detectedFrom, startHint: "add a Phoenix endpoint or an application that keeps running")
        plan.tools = [ToolRequirement(.elixir)]
        plan.installCommands = ["mix local.hex --force", "mix local.rebar --force", "mix deps.get --only prod"]
        plan.buildCommands = ["mix compile"]
        plan.environment = ["MIX_ENV": "prod"]
        plan.cache = InstallCache(directories: ["deps"], keyFiles: ["mix.exs", "mix.lock"], skipInstallOnHit: true)
        plan.installFailureHint = "mix downloads packages from hex.pm, which may be unreachable from this machine"
        let mix = source.optionalText("mix.exs") ?? ""
        // Dependencies are `{:name, …}` tuples; without any, hex and rebar (downloads) are not needed.
        if mix.firstMatch(of: /\{\s*:[a-z_][A-Za-z0-9_]*\s*,/) == nil {
            plan.installCommands = []
            plan.notes.append("mix.exs lists no dependencies: hex and rebar are not installed")
        }
        if mix.contains(":phoenix") {
            plan.notes.append("detected a Phoenix app")
            plan.startCommand = "mix phx.server"
            plan.environment["PHX_SERVER"] = "true"
        } else {
            plan.startCommand = "mix run --no-halt"
        }
        return plan
    }

    // MARK: deno

    func deno(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "deno", detectedFrom: detectedFrom, startHint: "add a start task to deno.json, or a main.ts")
        plan.tools = [ToolRequirement(.deno)]
        let config = source.optionalText(detectedFrom) ?? ""
        if config.firstMatch(of: /"start"\s*:/) != nil, config.contains("\"tasks\"") {
            plan.startCommand = "deno task start"
        } else if let main = ["main.ts", "main.js", "mod.ts", "server.ts", "index.ts", "index.js"].first(where: source.isFile) {
            plan.startCommand = "deno run --allow-all \(main)"
        }
        plan.notes.append("deno fetches jsr: and npm: imports at start; those registries may be unreachable from this machine")
        return plan
    }

    // MARK: dotnet

    func dotnet(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "dotnet", detectedFrom: detectedFrom, startHint: "add a .csproj for an executable")
        plan.tools = [
            ToolRequirement(.dotnet, advice: "it comes from Microsoft's package repository (packages.microsoft.com), which must be added to apt first")
        ]
        let project = detectedFrom.hasSuffix(".csproj") ? detectedFrom : try source.entries().first { $0.hasSuffix(".csproj") }
        plan.installCommands = ["dotnet restore"]
        plan.buildCommands = ["dotnet publish --no-restore -c Release -o out"]
        plan.installFailureHint = "dotnet restores packages from nuget.org, which may be unreachable from this machine"
        if let project {
            let text = source.optionalText(project) ?? ""
            let assembly = text.firstMatch(of: /<AssemblyName>([^<]+)<\/AssemblyName>/).map { String($0.1) }
                ?? String(project.dropLast(".csproj".count))
            plan.startCommand = "ASPNETCORE_URLS=http://0.0.0.0:$PORT ./out/\(assembly.shellQuoted)"
        }
        return plan
    }

    // MARK: gleam

    func gleam(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "gleam", detectedFrom: detectedFrom, startHint: "add a main function to the gleam project")
        plan.tools = [ToolRequirement(.gleam), ToolRequirement(.erlang)]
        plan.installCommands = ["gleam deps download"]
        plan.buildCommands = ["gleam export erlang-shipment"]
        plan.startCommand = "./build/erlang-shipment/entrypoint.sh run"
        plan.cache = InstallCache(directories: ["build/packages"], keyFiles: ["gleam.toml", "manifest.toml"], skipInstallOnHit: true)
        plan.installFailureHint = "gleam downloads packages from hex.pm, which may be unreachable from this machine"
        return plan
    }

    // MARK: cpp

    func cpp(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "cpp", detectedFrom: detectedFrom, startHint: "declare an executable in the build file")
        if detectedFrom == "meson.build" || !source.isFile("CMakeLists.txt") {
            plan.tools = [ToolRequirement(.meson)]
            plan.buildCommands = ["meson setup build --buildtype=release", "meson compile -C build"]
            let text = source.optionalText("meson.build") ?? ""
            if let name = text.firstMatch(of: /executable\(\s*'([^']+)'/)?.1 {
                plan.startCommand = "./build/\(String(name).shellQuoted)"
            }
        } else {
            plan.tools = [ToolRequirement(.cmake)]
            plan.buildCommands = ["cmake -B build -DCMAKE_BUILD_TYPE=Release", "cmake --build build"]
            let text = try source.text("CMakeLists.txt")
            if let name = text.firstMatch(of: /add_executable\(\s*([^\s)]+)/)?.1 {
                var executable = String(name)
                // `add_executable(${PROJECT_NAME} …)` names the project's binary.
                if executable.contains("$"), let project = text.firstMatch(of: /project\(\s*([A-Za-z0-9_.+-]+)/)?.1 {
                    executable = String(project)
                }
                plan.startCommand = "./build/\(executable.shellQuoted)"
            }
        }
        return plan
    }
}
