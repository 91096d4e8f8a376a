import Foundation
#if canImport(Glibc)
import Glibc
#endif
import YardCore

/// What the CLI remembers: the server and token (`yard login`, or written by `yard serve`),
/// and which project, environment and service each folder is linked to.
public struct CLIConfig: Codable, Sendable, Equatable {
    public struct Link: Codable, Sendable, Equatable {
        public var project: String
        public var environment: String
        public var service: String?

        public init(project: String, environment: String, service: String?) {
            self.project = project
            self.environment = environment
            self.service = service
        }
    }

    public var apiURL: String?
    public var token: String?
    /// Absolute folder path → link.
    public var links: [String: Link] = [:]

    public init() {}

    /// `$YARD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/switchyard`, else `~/.config/switchyard`.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["YARD_CONFIG_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("switchyard")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".config/switchyard")
    }

    public static func fileURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        directory(environment: environment).appendingPathComponent("config.json")
    }

    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CLIConfig {
        let url = fileURL(environment: environment)
        guard let data = FileManager.default.contents(atPath: url.path) else { return CLIConfig() }
        do {
            return try YardJSON.decoder().decode(CLIConfig.self, from: data)
        } catch {
            throw YardError(.invalidInput, "\(url.path) is not a valid Switchyard CLI config: \(error); fix or delete it")
        }
    }

    /// Writes the file with mode 0600: it holds a token.
    public func save(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let url = Self.fileURL(environment: environment)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let data = try YardJSON.encoder(pretty: true).encode(self)
        let temporary = url.appendingPathExtension("tmp")
        FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600])
        // rename(2) replaces the old file atomically: a crash leaves the old or the new one.
        guard rename(temporary.path, url.path) == 0 else {
            throw YardError(.internal, "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The link of `folder` or of its nearest linked parent.
    public func link(for folder: URL) -> Link? {
        linkedFolder(for: folder).flatMap { links[$0] }
    }

    /// The path of `folder` or of its nearest parent that has a link (the key in `links`).
    public func linkedFolder(for folder: URL) -> String? {
        var path = folder.standardizedFileURL.path
        while true {
            if links[path] != nil { return path }
            let parent = (path as NSString).deletingLastPathComponent
            if parent == path || parent.isEmpty { return nil }
            path = parent
        }
    }
}
