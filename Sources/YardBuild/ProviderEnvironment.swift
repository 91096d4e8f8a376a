import Foundation
import YardCore

/// A provider's build environment on Debian 12 (bookworm): the packages its environment
/// image installs over `debian:bookworm-slim`, the version each toolchain has there, and
/// the folders its install steps keep as cache mounts.
public struct ProviderEnvironment: Sendable, Equatable {
    /// One toolchain the packages bring, by the planner's toolchain name.
    public struct DebianToolchain: Sendable, Equatable {
        /// "python", "node", "go": `Toolchain.name`.
        public var toolchain: String
        /// The Debian package that has it ("python3").
        public var package: String
        /// Its upstream version in bookworm ("3.11.2").
        public var version: String
    }

    public var provider: String
    /// apt packages, installed with `--no-install-recommends`.
    public var packages: [String]
    public var toolchains: [DebianToolchain]
    /// Folders of the build's root home (`HOME=/root`) the steps share between builds.
    public var cacheFolders: [String]
    /// Environment of the steps and the app (Go without cgo: no C compiler is installed).
    public var environment: [String: String]

    /// The Debian image environments start from (the debootstrap import).
    public static let debianBase = "docker.io/library/debian:bookworm-slim"
    /// PATH inside environment images, as Debian's own.
    public static let imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The environment of `provider`, or nil when Debian 12 packages none of its toolchains
    /// (swift, deno, dotnet, gleam).
    public static func debian12(provider: String) -> ProviderEnvironment? {
        func tool(_ toolchain: String, _ package: String, _ version: String) -> DebianToolchain {
            DebianToolchain(toolchain: toolchain, package: package, version: version)
        }
        switch provider {
        case "python":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "python3", "python3-pip", "python3-venv"],
                toolchains: [tool("python", "python3", "3.11.2")], cacheFolders: [".cache/pip"], environment: [:])
        case "node":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "nodejs", "npm"],
                toolchains: [tool("node", "nodejs", "18.20.4"), tool("npm", "npm", "9.2.0")], cacheFolders: [".npm"],
                environment: [:])
        case "golang":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "git", "golang-go"], toolchains: [tool("go", "golang-go", "1.19.8")],
                cacheFolders: ["go/pkg/mod", ".cache/go-build"], environment: ["CGO_ENABLED": "0"])
        case "ruby":
            return ProviderEnvironment(
                provider: provider, packages: ["build-essential", "ca-certificates", "ruby-bundler", "ruby-dev", "ruby-full"],
                toolchains: [tool("ruby", "ruby", "3.1.2"), tool("bundler", "ruby-bundler", "2.3.15")], cacheFolders: [".bundle/cache"],
                environment: [:])
        case "php":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "composer", "php-cli", "unzip"],
                toolchains: [tool("php", "php-cli", "8.2.36"), tool("composer", "composer", "2.5.5")], cacheFolders: [".cache/composer"],
                environment: [:])
        case "rust":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "cargo", "rustc"], toolchains: [tool("rust", "rustc", "1.63.0")],
                cacheFolders: [".cargo/registry"], environment: [:])
        case "elixir":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "elixir", "erlang-dev", "erlang-xmerl"],
                toolchains: [tool("elixir", "elixir", "1.14.0"), tool("erlang", "erlang-base", "25.2.3")], cacheFolders: [".hex", ".mix"],
                environment: ["LANG": "C.UTF-8"])
        case "java":
            return ProviderEnvironment(
                provider: provider, packages: ["ca-certificates", "default-jdk-headless", "gradle", "maven"],
                toolchains: [tool("java", "openjdk-17-jdk-headless", "17.0.21"), tool("maven", "maven", "3.8.7"), tool("gradle", "gradle", "4.4.1")],
                cacheFolders: [".m2", ".gradle"], environment: [:])
        case "cpp":
            return ProviderEnvironment(
                provider: provider, packages: ["build-essential", "cmake", "meson", "ninja-build"],
                toolchains: [tool("cmake", "cmake", "3.25.1"), tool("meson", "meson", "1.0.1")], cacheFolders: [], environment: [:])
        case "staticfile":
            // busybox's httpd serves the files: the platform's own server is not in the image.
            return ProviderEnvironment(provider: provider, packages: ["busybox"], toolchains: [], cacheFolders: [], environment: [:])
        case "shell":
            return ProviderEnvironment(provider: provider, packages: [], toolchains: [], cacheFolders: [], environment: [:])
        default:
            return nil
        }
    }

    /// The environment a plan needs: a toolchain after the provider's main one (npm,
    /// composer, gradle) is installed only when the plan lists it or a command names it.
    public func narrowed(toolchains names: [String], commands: [String]) -> ProviderEnvironment {
        var narrowed = self
        for extra in toolchains.dropFirst() where !names.contains(extra.toolchain) && !commands.contains(where: { $0.contains(extra.toolchain) }) {
            narrowed.packages.removeAll { $0 == extra.package }
            narrowed.toolchains.removeAll { $0 == extra }
        }
        return narrowed
    }

    /// `localhost/yard-env/<provider>:<hash of the packages>`: built once per image store and
    /// shared by every service of the provider; a changed package list is a new image. (Not
    /// under `localhost/yard/`, whose images are deployments' and collected with them.)
    public var imageName: String {
        guard !packages.isEmpty else { return Self.debianBase }
        var hasher = ContentHasher()
        hasher.add("switchyard-provider-environment-v1")
        hasher.add(Self.debianBase)
        for package in packages.sorted() { hasher.add(package) }
        return "localhost/yard-env/\(provider):\(hasher.finish().prefix(16))"
    }

    /// How its environment image is made (`Builder.ensureEnvironmentImage`).
    var recipe: EnvironmentImageRecipe {
        EnvironmentImageRecipe(name: imageName, title: "the \(provider) build environment", packages: packages, containerfile: containerfile)
    }

    /// The Containerfile of the environment image: Debian's packages over the Debian base.
    public var containerfile: String {
        // The machine's Release files may be older than their Valid-Until (a snapshot mirror).
        let install =
            "apt-get -o Acquire::Check-Valid-Until=false update"
            + " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \(packages.sorted().joined(separator: " "))"
            + " && rm -rf /var/lib/apt/lists/*"
        return """
            FROM \(Self.debianBase)
            RUN \(ProviderContainerfile.execForm(["/bin/sh", "-c", install]))

            """
    }
}

/// Where a toolchain of an image build comes from.
public enum ToolchainSource: Sendable, Equatable {
    /// Installed with mise into the shared toolchain store (when mise can download).
    case mise(MiseInstaller.Invocation)
    /// The environment image's Debian package.
    case debian(package: String, version: String)
}

/// The toolchains of a plan, each given a source in order: mise when it can download, the
/// Debian package when its version satisfies the request, else the build fails before any
/// step with what was asked, where, what is available and how to get one.
public struct ToolchainResolver: Sendable {
    public var environment: ProviderEnvironment?
    /// nil: mise cannot download here, so only Debian's packages count.
    public var mise: MiseInstaller?

    public init(environment: ProviderEnvironment?, mise: MiseInstaller?) {
        self.environment = environment
        self.mise = mise
    }

    public struct Resolution: Sendable, Equatable {
        public var sources: [String: ToolchainSource] = [:]
        /// The plan's toolchains with the image build's facts (`available`, `matches`, `message`).
        public var toolchains: [Toolchain] = []
        /// Why the build must stop before any step; nil when every toolchain has a source.
        public var failure: String?
    }

    public func resolve(_ toolchains: [Toolchain], provider: String) -> Resolution {
        var resolution = Resolution()
        for var toolchain in toolchains {
            defer { resolution.toolchains.append(toolchain) }
            let asked = toolchain.requested.map { describe($0, toolchain) }
            if let mise, let requested = toolchain.requested, let invocation = mise.invocation(tool: toolchain.name, version: requested) {
                resolution.sources[toolchain.name] = .mise(invocation)
                toolchain.available = true
                toolchain.message = "\(asked ?? ""); installed with mise into the shared toolchain store"
                continue
            }
            guard let debian = environment?.toolchains.first(where: { $0.toolchain == toolchain.name }) else {
                toolchain.available = false
                toolchain.message = (asked.map { "\($0); " } ?? "") + "Debian 12 has no package for \(toolchain.name)"
                resolution.failure = resolution.failure ?? unavailable(toolchain, provider: provider, debian: nil)
                continue
            }
            toolchain.available = true
            let version = ToolVersion(firstIn: debian.version)
            let range = toolchain.requested.flatMap { VersionRange(BuildPlanner.rangeText($0)) }
            if let requested = toolchain.requested, let range, let version {
                toolchain.matches = range.contains(version)
                if toolchain.matches == false {
                    toolchain.message = "\(describe(requested, toolchain)); Debian 12's \(debian.package) has \(debian.version)"
                    resolution.failure = resolution.failure ?? unavailable(toolchain, provider: provider, debian: debian)
                    continue
                }
                toolchain.message = "\(describe(requested, toolchain)); Debian 12's \(debian.package) \(debian.version) satisfies it"
            } else if let requested = toolchain.requested {
                toolchain.message =
                    "\(describe(requested, toolchain)) (not a range Switchyard compares); building with Debian 12's \(debian.package) \(debian.version)"
            } else {
                toolchain.message = "building with Debian 12's \(debian.package) \(debian.version)"
            }
            resolution.sources[toolchain.name] = .debian(package: debian.package, version: debian.version)
        }
        return resolution
    }

    private func describe(_ requested: String, _ toolchain: Toolchain) -> String {
        BuildPlanner.describe(BuildPlanner.VersionRequest(version: requested, source: toolchain.source ?? "the app"), toolchain: toolchain.name)
    }

    /// "… asks for python 3.13, which no source here provides: versions available: 3.11.2 (…); to get one: …".
    private func unavailable(_ toolchain: Toolchain, provider: String, debian: ProviderEnvironment.DebianToolchain?) -> String {
        let asked = toolchain.requested.map { describe($0, toolchain) } ?? "the \(provider) build needs \(toolchain.name)"
        let available = debian.map { "\($0.version) (Debian 12 package \($0.package))" } ?? "none (Debian 12 has no package for it)"
        var ways: [String] = []
        if let debian, toolchain.requested != nil {
            ways.append("ask for a version \(debian.version) satisfies in \(toolchain.source ?? "the app")")
        }
        ways.append("deploy with a Dockerfile whose base image has \(toolchain.name) \(toolchain.requested ?? "")".trimmingCharacters(in: .whitespaces))
        ways.append("or build where mise can download toolchains")
        return "\(asked), which this machine cannot provide: mise cannot download here; versions available: \(available); "
            + "to get one: " + ways.joined(separator: ", ")
    }
}

/// An image of Debian's packages over the Debian base, built once per image store and kept
/// in the machine's cache: a provider's build environment, a database's server.
struct EnvironmentImageRecipe: Sendable, Equatable {
    /// `localhost/yard-env/<name>:<hash of what it holds>`.
    var name: String
    /// For the build log ("the python build environment").
    var title: String
    var packages: [String]
    var containerfile: String
}
