import Foundation
import YardCore

/// What to run: a command line, its environment and directory. Nothing in it assumes how
/// the process is isolated, so a sandbox or a cluster backend can implement the same seam.
public struct LaunchSpec: Sendable {
    /// argv. `arguments[0]` is an absolute path or a name looked up on the spec's PATH.
    public var arguments: [String]
    /// The complete environment of the process (nothing is inherited implicitly).
    public var environment: [String: String]
    public var workingDirectory: String
    /// Who this is for in logs (`replica.id`, or `build`).
    public var label: String

    public init(arguments: [String], environment: [String: String], workingDirectory: String, label: String) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.label = label
    }

    /// A shell command line, run by `/bin/sh -c` as Railway does for start commands.
    public static func shell(
        _ command: String,
        environment: [String: String],
        workingDirectory: String,
        label: String
    ) -> LaunchSpec {
        LaunchSpec(
            arguments: ["/bin/sh", "-c", command],
            environment: environment,
            workingDirectory: workingDirectory,
            label: label
        )
    }
}

/// Receives a launched process's output, one line at a time, without the trailing newline.
public typealias OutputHandler = @Sendable (LogLine.Stream, String) -> Void

/// The seam between the pipeline and how processes are run (plain processes now,
/// a sandbox next).
public protocol ProcessLauncher: Sendable {
    /// A short human description of the isolation this launcher gives, for `yard status`.
    var isolation: String { get }

    /// Starts the process. Output is delivered line by line to `output` until the process
    /// and every child holding its stdout/stderr have exited.
    func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess
}

public protocol LaunchedProcess: Sendable {
    var pid: Int32 { get }
    /// Sends `signal` to the whole process tree, not just the first pid.
    func signal(_ signal: Int32)
    /// Returns once the process has exited and all its output has been delivered.
    func wait() async -> ExitReason
}
