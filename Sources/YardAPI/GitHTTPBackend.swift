import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import YardControl
import YardCore
import YardRuntime
import YardStore

/// Git's smart HTTP protocol under `/git/<project>.git/…`, served by `git http-backend` run
/// as a CGI program per request. Git clients authenticate with HTTP Basic: the password
/// (or, with an empty password, the user name) is an API token.
final class GitHTTPBackend: Sendable {
    let orchestrator: Orchestrator
    let apiHost: String
    private let boundPort = Mutex(0)

    init(orchestrator: Orchestrator, apiHost: String) {
        self.orchestrator = orchestrator
        self.apiHost = apiHost
    }

    var store: SQLiteStore { orchestrator.store }

    func setBoundPort(_ port: Int) { boundPort.withLock { $0 = port } }

    /// Where the repository's hook reaches the API: loopback when the API listens on every address.
    var loopbackURL: String {
        let host = ["0.0.0.0", "::", ""].contains(apiHost) ? "127.0.0.1" : apiHost
        let port = boundPort.withLock { $0 }
        return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("git/:repository/**") { request, context in try await self.serve(request, context: context) }
        router.post("git/:repository/**") { request, context in try await self.serve(request, context: context) }
    }

    private func serve(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let token = Self.basicCredential(request.headers[.authorization]),
            try store.token(hash: ContentHash.sha256(token)) != nil
        else {
            return Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: "Basic realm=\"Switchyard\"", .contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: "authentication required: use an API token as the password (`yard git remote` shows how)\n"))
            )
        }
        let repository = try context.parameters.require("repository")
        guard repository.hasSuffix(".git"), repository.count > 4 else {
            throw YardError(.notFound, "git repositories are at /git/<project>.git")
        }
        let project = try store.project(String(repository.dropLast(4)))
        let rest = context.parameters.getCatchAll().joined(separator: "/")
        let isPush = rest == "git-receive-pack" || request.uri.queryParameters["service"] == "git-receive-pack"
        context.logger.info("git request", metadata: ["project.id": "\(project.id)", "git.path": "\(rest)", "git.push": "\(isPush)"])

        _ = try await orchestrator.gitRepository(projectID: project.id)
        // A push's pack goes to a private file under the data directory, bounded like an upload.
        let input = try orchestrator.temporaryFile("git")
        let limit = orchestrator.configuration.maximumUploadBytes
        _ = try await APIRoutes.receiveBody(request.body, to: input, limit: limit) {
            "the git request is larger than \(APIRoutes.bytesText(limit)) (the server's --max-upload-size); "
                + "push fewer or smaller objects, or ask the operator to raise the limit"
        }
        defer { try? FileManager.default.removeItem(at: input) }

        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TMPDIR"].contains($0.key) }
        environment["GIT_PROJECT_ROOT"] = GitRepository.root(dataDirectory: orchestrator.configuration.dataDirectory).path
        environment["GIT_HTTP_EXPORT_ALL"] = "1"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["PATH_INFO"] = "/\(project.id).git/\(rest)"
        environment["QUERY_STRING"] = request.uri.query ?? ""
        environment["REQUEST_METHOD"] = request.method.rawValue
        environment["REMOTE_USER"] = "yard"
        environment["REMOTE_ADDR"] = "127.0.0.1"
        environment["CONTENT_TYPE"] = request.headers[.contentType] ?? ""
        let size = (try? FileManager.default.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0
        environment["CONTENT_LENGTH"] = "\(size)"
        if let encoding = request.headers[.contentEncoding] { environment["HTTP_CONTENT_ENCODING"] = encoding }
        if let gitProtocol = request.headers[HTTPField.Name("Git-Protocol")!] { environment["GIT_PROTOCOL"] = gitProtocol }
        // The post-receive hook reports the push to the API as the pusher.
        environment["YARD_API_URL"] = loopbackURL
        environment["YARD_TOKEN"] = token
        environment["YARD_GIT_PROJECT"] = project.id

        let errorsFile = input.appendingPathExtension("err")
        let cgi: CGIProcess
        let head: CGIProcess.Head
        let leftover: Data
        do {
            cgi = try CGIProcess.start(
                arguments: ["git", "http-backend"], environment: environment, input: input, logger: context.logger)
            (head, leftover) = try await cgi.readHead()
        } catch {
            try? FileManager.default.removeItem(at: errorsFile)
            throw error
        }
        let logger = context.logger
        let body = ResponseBody { writer in
            // finish() removes it; a client that left early must not leave it behind.
            defer { try? FileManager.default.removeItem(at: errorsFile) }
            if !leftover.isEmpty { try await writer.write(ByteBuffer(bytes: leftover)) }
            for await chunk in cgi.output {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            let (status, errors) = await cgi.finish()
            if status != 0 || !errors.isEmpty {
                logger.warning("git http-backend", metadata: ["git.exit": "\(status)", "git.stderr": "\(errors.prefix(2000))"])
            }
            try await writer.finish(nil)
        }
        return Response(status: head.status, headers: head.headers, body: body)
    }

    /// The token from `Authorization: Basic …`: the password, or the user with no password.
    static func basicCredential(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return text.isEmpty ? nil : text }
        let password = String(text[text.index(after: colon)...])
        let user = String(text[..<colon])
        let token = password.isEmpty ? user : password
        return token.isEmpty ? nil : token
    }
}

/// A CGI program: its stdin a file, its stdout streamed as it comes, its stderr collected.
struct CGIProcess: Sendable {
    struct Head: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
    }

    let output: AsyncStream<Data>
    private let iterator: Iterator
    private let exit: Task<Int32, Never>
    private let errors: URL

    /// Gives `readHead` and the response body the same iterator over stdout.
    private final class Iterator: @unchecked Sendable {
        // Used by one task at a time: the head is read before the body starts.
        var base: AsyncStream<Data>.Iterator
        init(_ base: AsyncStream<Data>.Iterator) { self.base = base }
    }

    /// How long the output may stay open after the program exited: its last bytes are in the
    /// pipe by then; only a process that inherited the write end could hold it open longer.
    static let outputGraceAfterExit: Duration = .seconds(2)

    static func start(arguments: [String], environment: [String: String], input: URL, logger: Logger) throws -> CGIProcess {
        let label = "git http-backend"
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        // Every descriptor is close-on-exec from birth: yard spawns builds and replicas while a
        // push is in flight (its hook deploys), and a replica that inherited the output's
        // write end would keep the response open for as long as it runs.
        let errors = input.appendingPathExtension("err")
        let stdin = FileHandle(
            fileDescriptor: try CloseOnExecPipe.openFile(input.path, flags: O_RDONLY, label: label), closeOnDealloc: true)
        let stderr = FileHandle(
            fileDescriptor: try CloseOnExecPipe.openFile(errors.path, flags: O_WRONLY | O_CREAT | O_TRUNC, label: label),
            closeOnDealloc: true)
        let pipe = try CloseOnExecPipe.make(label: label)
        let reader = FileHandle(fileDescriptor: pipe.read, closeOnDealloc: true)
        let writer = FileHandle(fileDescriptor: pipe.write, closeOnDealloc: true)
        process.standardInput = stdin
        process.standardError = stderr
        process.standardOutput = writer
        let (stream, continuation) = AsyncStream.makeStream(of: Data.self, bufferingPolicy: .unbounded)
        let ended = Mutex(false)
        reader.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                ended.withLock { $0 = true }
                continuation.finish()
            } else {
                continuation.yield(data)
            }
        }
        let (exitStream, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = {
            exitContinuation.yield($0.terminationStatus); exitContinuation.finish()
        }
        do {
            try process.run()
        } catch {
            reader.readabilityHandler = nil
            throw YardError(.unavailable, "git http-backend could not be started: \(error); install git", cause: error)
        }
        try? writer.close()
        try? stdin.close()
        try? stderr.close()
        // `ChildProcess` reports the program's own exit, not that of a process it left behind
        // (a detached `git gc --auto`).
        let exit = Task { await exitStream.first { _ in true } ?? -1 }
        // The answer ends at end-of-file, or at the latest shortly after the program exits:
        // a descriptor leaked into a long-lived process must never hang the client.
        Task {
            let status = await exit.value
            try? await Task.sleep(for: outputGraceAfterExit)
            let open = ended.withLock { wasEnded in
                defer { wasEnded = true }
                return !wasEnded
            }
            guard open else { return }
            logger.warning(
                "git http-backend exited but its output stayed open (another process holds the pipe); ending the answer",
                metadata: ["git.exit": "\(status)"])
            reader.readabilityHandler = nil
            continuation.finish()
        }
        let iterator = Iterator(stream.makeAsyncIterator())
        let output = AsyncStream<Data> {
            await iterator.base.next()
        }
        return CGIProcess(output: output, iterator: iterator, exit: exit, errors: errors)
    }

    /// Reads stdout up to the blank line that ends the CGI headers.
    func readHead() async throws -> (Head, Data) {
        var buffer = Data()
        while true {
            for separator in ["\r\n\r\n", "\n\n"] {
                if let range = buffer.range(of: Data(separator.utf8)) {
                    let head = Self.parseHead(String(decoding: buffer[..<range.lowerBound], as: UTF8.self))
                    return (head, Data(buffer[range.upperBound...]))
                }
            }
            guard let chunk = await iterator.base.next() else {
                let (status, errors) = await finish()
                throw YardError(.internal, "git http-backend ended without an answer (exit \(status)): \(errors.prefix(500))")
            }
            buffer.append(chunk)
        }
    }

    /// Waits for the program to exit; returns its status and what it wrote to stderr.
    func finish() async -> (Int32, String) {
        let status = await exit.value
        let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: errors)
        return (status, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func parseHead(_ text: String) -> Head {
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" {
                if let code = Int(value.prefix(3)) {
                    status = HTTPResponse.Status(code: code, reasonPhrase: String(value.dropFirst(3)).trimmingCharacters(in: .whitespaces))
                }
            } else if let field = HTTPField.Name(name) {
                headers[field] = value
            }
        }
        return Head(status: status, headers: headers)
    }
}
