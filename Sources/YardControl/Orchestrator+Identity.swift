import Foundation
import YardCore
import YardRuntime

/// Each service's boxes, per environment, run as a host uid of their own
/// (`SandboxIdentity`), which owns its app folder while building and its volume: a PR
/// environment's code is a stranger to production's.
extension Orchestrator {
    /// The host uid of a service in one environment, for its builds, replicas, pre-deploy
    /// commands, cron runs and restore checks.
    nonisolated static func hostUID(of serviceID: String, environmentID: String) -> UInt32 {
        SandboxIdentity.uid(forService: serviceID + "/" + environmentID)
    }

    /// `/etc/passwd` and `/etc/group` as the box sees them: the host's plus a name for `uid`
    /// (under `<data>/run/accounts/<uid>`, rewritten at each start so host changes show).
    func accountBinds(uid: UInt32) throws -> [BindMount] {
        let folder = configuration.dataDirectory.appendingPathComponent("run/accounts/\(uid)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let host = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let files = SandboxIdentity.accountFiles(uid: uid, hostPasswd: host("/etc/passwd"), hostGroup: host("/etc/group"))
        var binds: [BindMount] = []
        for (name, text) in [("passwd", files.passwd), ("group", files.group)] {
            let file = folder.appendingPathComponent(name)
            try Data(text.utf8).write(to: file, options: .atomic)
            _ = chmod(file.path, 0o644)
            binds.append(BindMount(source: file.path, target: "/etc/\(name)"))
        }
        return binds
    }
}
