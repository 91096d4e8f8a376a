import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Scale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set the service's resource limits (applied from the next deployment or restart)."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "Memory limit, e.g. 512M or 1G (0 removes it: the server's default applies).")
    var memory: String?

    @Option(help: "CPU cores, e.g. 0.5 (0 removes it: the server's default applies).")
    var cpu: Double?

    @Option(help: "Maximum number of processes (0 removes it: the server's default applies).")
    var maxProcesses: Int?

    @Option(help: "Give replicas a route to the outside (true/false).")
    var egress: Bool?

    func validate() throws {
        if let memory { _ = try ByteSize.parse(memory) }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let change = ServiceSettingsChange(
                memoryBytes: try memory.map(ByteSize.parse), cpus: cpu, maxProcesses: maxProcesses, egress: egress)
            let settings = change == ServiceSettingsChange()
                ? try await client.settings(scope) : try await client.changeSettings(scope, change)
            if options.json { try Output.json(settings); return }
            Self.show(settings)
            if change != ServiceSettingsChange() {
                print("Applies from the next deployment: `yard restart` to apply it now.")
            }
        }
    }
}

extension Scale {
    /// The settings as `yard scale` and `yard service` print them.
    static func show(_ settings: ServiceSettingsView) {
        print("root directory: \(settings.rootDirectory ?? ". (the upload's root)")")
        let defaults = settings.defaultLimits ?? ResourceLimits()
        func show<T>(_ own: T?, _ fallback: T?, _ format: (T) -> String) -> String {
            if let own { return format(own) }
            return fallback.map { "\(format($0)) (the server's default)" } ?? "unlimited"
        }
        print("memory: \(show(settings.limits.memoryBytes, defaults.memoryBytes, ByteSize.format))")
        print("cpu: \(show(settings.limits.cpus, defaults.cpus) { "\($0) cores" })")
        print("processes: \(show(settings.limits.maxProcesses, defaults.maxProcesses, String.init))")
        print("egress: \(settings.egress ? "yes" : "no")")
        print("sleeps when idle: \(settings.sleepApplication.map { $0 ? "yes (yard service --sleep on)" : "no (yard service --sleep off)" } ?? "as the config file's sleepApplication says")")
        if let volume = settings.volume { print("volume: \(volume.name) at \(volume.mountPath)") }
    }
}

/// `512M`, `1G`, `1.5GiB`, `1048576` → bytes.
enum ByteSize {
    static func parse(_ text: String) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let kibi = 1024.0
        let units: [(String, Double)] = [
            ("GIB", kibi * kibi * kibi), ("MIB", kibi * kibi), ("KIB", kibi), ("GB", kibi * kibi * kibi), ("MB", kibi * kibi),
            ("KB", kibi), ("G", kibi * kibi * kibi), ("M", kibi * kibi), ("K", kibi), ("B", 1),
        ]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)), number >= 0 {
                return Int64(number * factor)
            }
        }
        if let number = Int64(trimmed), number >= 0 { return number }
        throw ValidationError("'\(text)' is not a size: use a number with K, M or G, e.g. 512M")
    }

    static func format(_ bytes: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: bytes, countStyle: .memory)
    }
}

struct Volume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or add the service's volume.",
        subcommands: [VolumeAdd.self, VolumeShow.self],
        defaultSubcommand: VolumeShow.self
    )
}

struct VolumeShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the service's volume.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingErrors {
            let settings = try await options.client().settings(try options.serviceScope())
            if options.json { try Output.json(settings.volume); return }
            if let volume = settings.volume {
                print("\(volume.name) mounted at \(volume.mountPath)")
            } else {
                print("No volume: `yard volume add --mount /data` adds one.")
            }
        }
    }
}

struct VolumeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a volume mounted at a path.")

    @OptionGroup var options: ClientOptions

    @Option(help: "Where the volume is mounted inside the replicas, e.g. /data.")
    var mount: String

    @Option(help: "Volume name (default: <service>-volume).")
    var name: String?

    func run() async throws {
        try await reportingErrors {
            let settings = try await options.client().addVolume(try options.serviceScope(), mountPath: mount, name: name)
            if options.json { try Output.json(settings); return }
            print("Volume \(settings.volume?.name ?? "") will be mounted at \(mount) from the next deployment.")
        }
    }
}
