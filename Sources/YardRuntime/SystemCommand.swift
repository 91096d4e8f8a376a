import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished command printed and how it exited.
public struct CommandResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public var succeeded: Bool { status == 0 }
}

/// Runs a system tool (`ip`, `iptables`, `buildah`) as a subprocess and collects its output.
public struct SystemCommand: Sendable {
    /// Absolute path of the tool.
    public var executable: String
    public var arguments: [String]
    /// Written to the tool's stdin, then stdin is closed (for `ip -batch -`).
    public var input: String?
    /// Replaces the tool's environment when set (else it inherits the server's).
    public var environment: [String: String]?

    public init(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.input = input
        self.environment = environment
    }

    /// The command line as a user would type it, for error messages.
    public var commandLine: String {
        ([URL(fileURLWithPath: executable).lastPathComponent] + arguments).joined(separator: " ")
    }

    /// Runs the command to completion; a non-zero exit is returned, not thrown.
    ///
    /// Output goes to unlinked temporary files rather than pipes: nothing has to drain them
    /// while the tool runs, so a long listing can never stall it.
    public func result() async throws -> CommandResult {
        let stdout = try Self.scratchFile()
        let stderr = try Self.scratchFile()
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = stdout
        process.standardError = stderr
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin

        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(
                    throwing: YardError(.unavailable, "`\(commandLine)` could not be started (\(executable)): \(error)", cause: error))
                return
            }
            if let input {
                BrokenPipe.ignore()
                // Input is a few short lines: it fits the pipe's buffer, so this never blocks.
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try? stdin.fileHandleForWriting.close()
            }
        }
        return CommandResult(status: status, standardOutput: try Self.contents(of: stdout), standardError: try Self.contents(of: stderr))
    }

    private static func scratchFile() throws -> FileHandle {
        var template = Array((NSTemporaryDirectory() + "/yard-command-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw YardError(.internal, "could not create a temporary file for a command's output in \(NSTemporaryDirectory())")
        }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    private static func contents(of file: FileHandle) throws -> String {
        try file.seek(toOffset: 0)
        return String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
    }

    /// Runs the command and throws a `YardError` naming it when it exits non-zero.
    @discardableResult
    public func run() async throws -> CommandResult {
        let result = try await result()
        guard result.succeeded else { throw failure(result) }
        return result
    }

    public func failure(_ result: CommandResult) -> YardError {
        let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = detail.isEmpty ? "no error output" : detail
        return YardError(.internal, "`\(commandLine)` failed with exit status \(result.status): \(shown)")
    }

    /// Runs the command synchronously, blocking the calling thread; for start-up checks only.
    public func resultBlocking() -> CommandResult {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let stderr = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return CommandResult(status: -1, standardOutput: "", standardError: "could not start \(executable): \(error)")
        }
        let message = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, standardOutput: "", standardError: String(decoding: message, as: UTF8.self))
    }
}

/// Finds system tools whether or not the server's PATH includes the sbin directories.
public enum SystemTool {
    public static let installCommands = [
        "ip": "apt-get install -y iproute2", "iptables": "apt-get install -y iptables",
        "buildah": "apt-get install -y buildah", "podman": "apt-get install -y podman runc",
        "skopeo": "apt-get install -y skopeo", "debootstrap": "apt-get install -y debootstrap",
        "newuidmap": "apt-get install -y uidmap",
    ]

    public static func locate(_ name: String) -> String? {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] + searchPath.split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public static func missing(_ name: String, neededFor purpose: String) -> YardError {
        YardError(.unavailable, "\(purpose) needs `\(name)`, which is not installed: \(installCommands[name] ?? "install \(name)")")
    }
}
