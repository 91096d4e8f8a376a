import Foundation
import YardCore

/// Installs a requested toolchain version with mise (Railpack's installer) into a shared,
/// content-addressed toolchain store: one folder per tool and version, made once per
/// machine and mounted into every build that asks for it. Used only where mise can
/// download (this machine cannot: `ToolchainResolver` then has no installer).
public struct MiseInstaller: Sendable, Equatable {
    /// The store on the host (`<data>/toolchains/mise`): mise's data directory.
    public var storeDirectory: URL
    /// Where builds see the store.
    public static let mountPoint = "/opt/yard/mise"

    public init(storeDirectory: URL) {
        self.storeDirectory = storeDirectory
    }

    /// One `mise install`, as plain values: nothing from the app becomes an option.
    public struct Invocation: Sendable, Equatable {
        /// `["mise", "install", "--yes", "--", "python@3.13"]`.
        public var arguments: [String]
        public var environment: [String: String]
        /// The installed toolchain in the store as builds see it (`/opt/yard/mise/installs/python/3.13`)…
        public var installPath: String
        /// …and on the host.
        public var storePath: URL
        /// Where the image keeps its copy (`/opt/yard/toolchains/python`).
        public var imagePath: String
        /// The folder the image puts first on PATH.
        public var binPath: String
    }

    /// The invocation that installs `tool` (a `Toolchain.name`) at `version`, or nil when
    /// the version is not one mise can be asked for (a range, a variable's hidden value).
    public func invocation(tool: String, version: String) -> Invocation? {
        let version = version.trimmingCharacters(in: .whitespaces)
        // mise takes exact versions and prefixes ("3.13", "20", "latest"), not npm ranges.
        guard version.count <= 40, version.wholeMatch(of: /[0-9A-Za-z][0-9A-Za-z.+-]*/) != nil else { return nil }
        let name = BuildPlanner.miseNames(for: tool)[0]
        let relative = "installs/\(name)/\(version)"
        return Invocation(
            arguments: ["mise", "install", "--yes", "--", "\(name)@\(version)"],
            environment: [
                "MISE_DATA_DIR": Self.mountPoint,
                "MISE_CACHE_DIR": Self.mountPoint + "/cache",
                // No config file of the app decides what else mise installs or trusts.
                "MISE_TRUSTED_CONFIG_PATHS": "",
                "MISE_YES": "1",
            ],
            installPath: Self.mountPoint + "/" + relative,
            storePath: storeDirectory.appendingPathComponent(relative),
            imagePath: ProviderContainerfile.toolchainsDirectory + "/" + name,
            binPath: ProviderContainerfile.toolchainsDirectory + "/" + name + "/bin")
    }
}
