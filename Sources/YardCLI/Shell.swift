import ArgumentParser
import Foundation
import YardClient
import YardCore
import YardRuntime
#if canImport(Glibc)
import Glibc
#endif

struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a shell inside a running replica's sandbox and network (on the server's machine, as root); it runs as a uid of its own, not the app's."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "A replica id (default: the first running replica of the live deployment).")
    var replica: String?

    @Option(help: "The shell to run.")
    var shell = "/bin/sh"

    func run() async throws {
        try await reportingErrors {
            let client = try options.client()
            let scope = try options.serviceScope()
            let status = try await client.status(project: scope.project, environment: scope.environment)
            guard let live = status.services.first(where: { $0.service.name == scope.service })?.live else {
                throw YardError(.notFound, "\(scope.service) has no live deployment to open a shell in")
            }
            guard let target = live.replicas.first(where: { replica == nil ? $0.status == .running : $0.id == replica }),
                  let pid = target.pid
            else {
                throw YardError(.notFound, "no running replica\(replica.map { " \($0)" } ?? "") in \(live.id)")
            }
            guard target.address != nil else {
                throw YardError(.unavailable, "this server runs replicas as plain processes (no sandbox to enter); use `yard run -- \(shell)`")
            }
            guard let inner = SandboxProcess.innermost(below: pid) else {
                throw YardError(.unavailable, "cannot find replica \(target.id)'s sandbox on this machine: `yard shell` runs on the server's machine, as root")
            }
            // The replica's own variables, sealed values included: the shell runs inside its
            // sandbox, as root on the server's machine, where /proc shows them anyway.
            var environment = try SandboxProcess.appEnvironment(of: inner)
            environment["PORT"] = String(target.port)
            environment["RAILWAY_REPLICA_ID"] = target.id
            environment["TERM"] = ProcessInfo.processInfo.environment["TERM"] ?? "xterm"
            environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            environment["HOME"] = "/tmp"
            // The shell gets a session and terminal of its own (the operator's terminal never
            // reaches the box), no_new_privs, and a uid no replica has, so the app can neither
            // trace it nor read its /proc entries nor signal it.
            let uid = SandboxIdentity.shellUID
            // `--wd`: the app's working directory (/app, or an image's WORKDIR), as `docker exec`.
            let arguments = [
                "/usr/bin/nsenter", "--target", String(inner), "--mount", "--uts", "--ipc", "--net",
                "--pid", "--wd", "--", "/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--", shell,
            ]
            let exitStatus = try ShellTerminal.run(arguments, environment: environment)
            if exitStatus != 0 { throw ExitCode(exitStatus) }  // its message, if any, the shell printed
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local command with the service's resolved variables (sealed ones withheld)."
    )

    @OptionGroup var options: ClientOptions

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    func run() async throws {
        try await reportingErrors {
            let arguments = command.first == "--" ? Array(command.dropFirst()) : command
            guard !arguments.isEmpty else { throw YardError(.invalidInput, "give a command: yard run -- CMD [ARGS]") }
            var environment = ProcessInfo.processInfo.environment
            let client = try options.client()
            let scope = try options.serviceScope()
            environment.merge(try await client.resolvedVariables(scope)) { _, service in service }
            // Sealed values never leave the server, so a local command goes without them.
            let sealed = try await client.variables(scope).filter(\.sealed).map(\.key)
            if !sealed.isEmpty {
                FileHandle.standardError.write(Data("yard run: sealed variables are not given to local commands: \(sealed.joined(separator: ", "))\n".utf8))
            }
            try Exec.replaceProcess(arguments, environment: environment)
        }
    }
}

/// Finds a replica's sandboxed process from the pid the platform launched.
enum SandboxProcess {
    /// The app's variables: the sandbox chain carries them encoded
    /// (`__YARD_SANDBOX_ENV_<n>` = `KEY=VALUE`) until the unprivileged command; the shell
    /// gets them decoded, and nothing else of the chain's environment.
    static func appEnvironment(of pid: Int32) throws -> [String: String] {
        let prefix = "__YARD_SANDBOX_ENV_"
        var decoded: [String: String] = [:]
        for (key, entry) in try environment(of: pid) where key.hasPrefix(prefix) {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            decoded[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return decoded
    }

    /// The environment a process started with, from /proc/<pid>/environ.
    static func environment(of pid: Int32) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else {
            throw YardError(.unavailable, "cannot read the environment of process \(pid): `yard shell` runs on the server's machine, as root")
        }
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// The first descendant of `pid` (breadth first) that lives in another pid namespace.
    static func innermost(below pid: Int32) -> Int32? {
        let hostNamespace = namespace(of: getpid())
        var queue = [pid]
        while !queue.isEmpty {
            let current = queue.removeFirst()
            if let namespace = namespace(of: current), namespace != hostNamespace { return current }
            queue.append(contentsOf: children(of: current))
        }
        return nil
    }

    private static func namespace(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
    }

    private static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }
}

/// Replaces the CLI process with another program (keeping the terminal).
enum Exec {
    static func replaceProcess(_ arguments: [String], environment: [String: String]) throws -> Never {
        // execvp searches PATH and passes `environ`, which is replaced first.
        clearenv()
        for (key, value) in environment { setenv(key, value, 1) }
        let argv = arguments.map { strdup($0) } + [nil]
        execvp(arguments[0], argv)
        throw YardError(.unavailable, "cannot run \(arguments[0]): \(String(cString: strerror(errno)))")
    }
}
