import Foundation

/// The parts of a Swift package manifest the swift provider needs: the package's name
/// and its executable products.
struct SwiftManifest: Sendable, Equatable {
    var packageName: String?
    var executables: [String]

    /// A best guess from the text of `Package.swift`, without running SwiftPM (detection
    /// must have no side effects). The build confirms it with `swift package dump-package`.
    init(manifestText text: String) {
        packageName = text.firstMatch(of: /Package\(\s*name:\s*"([^"]+)"/).map { String($0.1) }
        let products = text.matches(of: /\.executable\(\s*name:\s*"([^"]+)"/).map { String($0.1) }
        // SwiftPM gives every executable target of the root package a product of its own.
        let targets = text.matches(of: /\.executableTarget\(\s*name:\s*"([^"]+)"/).map { String($0.1) }
        executables = products.isEmpty ? targets : products
    }

    /// The JSON printed by `swift package dump-package`; nil when it is not that shape.
    init?(dumpPackageJSON data: Data) {
        struct Dump: Decodable {
            struct Product: Decodable {
                var name: String
                var type: [String: [String]?]
            }
            struct Target: Decodable {
                var name: String
                var type: String
            }
            var name: String
            var products: [Product]
            var targets: [Target]
        }
        guard let dump = try? JSONDecoder().decode(Dump.self, from: data) else { return nil }
        packageName = dump.name
        let products = dump.products.filter { $0.type.keys.contains("executable") }.map(\.name)
        let targets = dump.targets.filter { $0.type == "executable" }.map(\.name)
        executables = products.isEmpty ? targets : products
    }

    /// The product to start: one named like the package or its directory, else the first.
    func preferredExecutable(directoryName: String) -> String? {
        if let packageName, executables.contains(packageName) { return packageName }
        if executables.contains(directoryName) { return directoryName }
        return executables.first
    }
}
