import Foundation

/// The fields of a node `package.json` the node provider reads.
struct PackageJSON: Decodable, Sendable, Equatable {
    var name: String?
    var main: String?
    var scripts: [String: String]?
    var dependencies: [String: String]?
    var devDependencies: [String: String]?

    var hasDependencies: Bool {
        !(dependencies ?? [:]).isEmpty || !(devDependencies ?? [:]).isEmpty
    }

    func script(_ name: String) -> String? {
        guard let script = scripts?[name], !script.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return script
    }
}
