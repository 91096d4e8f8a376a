import Foundation
import YardCore

/// Switchyard's swift provider: `swift build -c release` and the executable product,
/// with the arguments Vapor and the Hummingbird template need to listen on `$PORT`.
extension BuildPlanner {
    enum SwiftFramework: String, Sendable {
        case hummingbird = "Hummingbird"
        case vapor = "Vapor"
    }

    func swift(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(
            provider: "swift",
            detectedFrom: detectedFrom,
            startHint: "declare an executable product in Package.swift"
        )
        plan.tools = [ToolRequirement(.swift)]
        plan.installCommands = ["swift package resolve"]
        plan.buildCommands = ["swift build -c release"]
        // The build is incremental over a restored .build, so it always runs.
        plan.cache = InstallCache(directories: [".build"], keyFiles: ["Package.swift", "Package.resolved"], skipInstallOnHit: false)
        plan.installFailureHint =
            "SwiftPM fetches dependencies from their git URLs (usually GitHub), which may be unreachable from this machine"

        let text = try source.text("Package.swift")
        var manifest = SwiftManifest(manifestText: text)
        if manifest.executables.isEmpty {
            // Names built in code escape the text match; a target with main.swift is executable.
            manifest.executables = mainSwiftTargets()
        }
        let framework = Self.swiftFramework(manifestText: text)
        if let framework {
            plan.notes.append("detected a \(framework.rawValue) app")
        }
        switch framework {
        case .vapor:
            plan.swiftStartArguments = "serve --env production --hostname 0.0.0.0 --port $PORT"
        case .hummingbird where takesHostnameAndPortOptions():
            // The Hummingbird template's ArgumentParser options default to 127.0.0.1:8080.
            plan.swiftStartArguments = "--hostname 0.0.0.0 --port $PORT"
            plan.notes.append("the app takes --hostname and --port options: starting it on 0.0.0.0:$PORT")
        default:
            break
        }
        if let product = manifest.preferredExecutable(directoryName: source.root.lastPathComponent) {
            plan.swiftExecutable = product
            plan.startCommand = Self.swiftStartCommand(product: product, arguments: plan.swiftStartArguments)
        }
        return plan
    }

    static func swiftFramework(manifestText text: String) -> SwiftFramework? {
        let lowered = text.lowercased()
        if lowered.contains("vapor/vapor") { return .vapor }
        if lowered.contains("hummingbird-project/hummingbird") { return .hummingbird }
        return nil
    }

    /// Whether a source file declares ArgumentParser `@Option`s named hostname and port.
    private func takesHostnameAndPortOptions() -> Bool {
        for file in source.files(under: "Sources", suffix: ".swift", limit: 100) {
            guard let text = source.optionalText(file), text.contains("@Option") else { continue }
            let hostname = text.firstMatch(of: /@Option(?:\([^)]*\))?\s*(?:(?:public|internal|private)\s+)?var\s+hostname\b/)
            let port = text.firstMatch(of: /@Option(?:\([^)]*\))?\s*(?:(?:public|internal|private)\s+)?var\s+port\b/)
            if hostname != nil, port != nil { return true }
        }
        return false
    }

    private func mainSwiftTargets() -> [String] {
        source.entries(in: "Sources").filter { source.isFile("Sources/\($0)/main.swift") }
    }

    static func swiftStartCommand(product: String) -> String {
        swiftStartCommand(product: product, arguments: nil)
    }

    /// `.build/release/<product>` followed by `arguments` (already shell words).
    static func swiftStartCommand(product: String, arguments: String?) -> String {
        let binary = ".build/release/\(product)".shellQuoted
        return arguments.map { "\(binary) \($0)" } ?? binary
    }
}
