import Foundation
import YardCore
import YardRuntime

/// Wraps the launcher used for build steps so the pid of every step is written down: if
/// `yard serve` is killed mid-build, the next start can stop what the build left running.
struct BuildProcessRecorder: ProcessLauncher {
    /// Environment variables the orchestrator sets for build steps: which deployment, and
    /// the file to append pids to. The marker lets recovery check a pid is still ours.
    static let marker = "SWITCHYARD_BUILD_DEPLOYMENT"
    static let recordFile = "SWITCHYARD_BUILD_PIDS"

    let launcher: any ProcessLauncher

    var isolation: String { launcher.isolation }

    func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        let process = try await launcher.launch(spec, output: output)
        if let path = spec.environment[Self.recordFile] {
            Self.append(pid: process.pid, to: URL(fileURLWithPath: path))
        }
        return process
    }

    private static func append(pid: Int32, to file: URL) {
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: file.path) {
            FileManager.default.createFile(atPath: file.path, contents: nil)
        }
        guard let handle = try? FileHandle(forWritingTo: file) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data("\(pid)\n".utf8))
    }

    /// Kills the process groups of recorded build steps that still carry the deployment's marker.
    static func killLeftovers(recordedIn file: URL, deploymentID: String) {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return }
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) {
            if LeftoverProcess.environment(of: pid, contains: "\(marker)=\(deploymentID)") {
                LeftoverProcess.kill(pid: pid)
            }
        }
    }
}
