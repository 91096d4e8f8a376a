import Foundation
import YardCore

/// What Switchyard reads from a Dockerfile before buildah builds it: the stages, the `ARG`s
/// each declares (build arguments are chosen from them), the ports it exposes and the line of
/// every instruction, so a failing buildah step can be named by its line.
///
/// It is not a full parser: buildah parses and builds; this only needs to agree with it on
/// instruction boundaries (line continuations, comments, heredocs are not followed).
public struct Dockerfile: Sendable, Equatable {
    /// One instruction: its keyword in upper case, the rest of it, and the line it starts on.
    public struct Instruction: Sendable, Equatable {
        public var keyword: String
        public var arguments: String
        public var line: Int

        /// The instruction as buildah prints it (`RUN false`).
        public var text: String { arguments.isEmpty ? keyword : keyword + " " + arguments }
    }

    /// A `FROM` and what follows it up to the next `FROM`.
    public struct Stage: Sendable, Equatable {
        /// The image or earlier stage it starts from.
        public var base: String
        /// `FROM … AS name`.
        public var name: String?
        /// Its instructions, `FROM` first.
        public var instructions: [Instruction]
        /// The names of the `ARG`s declared in the stage.
        public var arguments: [String]
    }

    /// `ARG`s before the first `FROM` (usable in `FROM` lines).
    public var globalArguments: [String]
    public var stages: [Stage]
    /// The value of a `# syntax=` directive, which buildah ignores (BuildKit would fetch it).
    public var syntax: String?

    /// Every `ARG` name the Dockerfile declares, in order, without repeats.
    public var declaredArguments: [String] {
        var seen = Set<String>()
        return (globalArguments + stages.flatMap(\.arguments)).filter { seen.insert($0).inserted }
    }

    /// The ports of its `EXPOSE` lines in the last stage (the image's), as `8080/tcp`.
    public var exposedPorts: [String] {
        guard let last = stages.last else { return [] }
        return last.instructions.filter { $0.keyword == "EXPOSE" }.flatMap { instruction in
            instruction.arguments.split(whereSeparator: \.isWhitespace).map { port in
                port.contains("/") ? String(port) : "\(port)/tcp"
            }
        }
    }

    /// Reads `text`; `file` names it in errors.
    public init(parsing text: String, file: String = "Dockerfile") throws(YardError) {
        var globalArguments: [String] = []
        var stages: [Stage] = []
        var syntax: String?
        var parserDirectives = true
        var pending: (text: String, line: Int)?
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }

        func finish(_ logical: String, line: Int) throws(YardError) {
            let trimmed = logical.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { return }
            let keyword = String(trimmed.prefix { !$0.isWhitespace }).uppercased()
            let arguments = String(trimmed.dropFirst(keyword.count)).trimmingCharacters(in: .whitespaces)
            let instruction = Instruction(keyword: keyword, arguments: arguments, line: line)
            if keyword == "FROM" {
                let words = arguments.split(whereSeparator: \.isWhitespace).map(String.init).filter { !$0.hasPrefix("--") }
                guard let base = words.first else {
                    throw YardError(.buildFailed, "\(file) line \(line): FROM names no image")
                }
                let name = words.count >= 3 && words[1].uppercased() == "AS" ? words[2] : nil
                stages.append(Stage(base: base, name: name, instructions: [instruction], arguments: []))
                return
            }
            let argumentName: String? =
                keyword == "ARG"
                ? arguments.split(whereSeparator: \.isWhitespace).first.map { String($0.prefix { $0 != "=" }) } : nil
            if stages.isEmpty {
                guard keyword == "ARG" else {
                    throw YardError(.buildFailed, "\(file) line \(line): \(keyword) comes before the first FROM; only ARG may")
                }
                if let argumentName { globalArguments.append(argumentName) }
                return
            }
            stages[stages.count - 1].instructions.append(instruction)
            if let argumentName { stages[stages.count - 1].arguments.append(argumentName) }
        }

        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") {
                // Parser directives only count at the very top, before any other line.
                if parserDirectives, pending == nil {
                    let directive = trimmed.dropFirst().trimmingCharacters(in: .whitespaces)
                    if let equals = directive.firstIndex(of: "="),
                        directive[..<equals].trimmingCharacters(in: .whitespaces).lowercased() == "syntax"
                    {
                        syntax = directive[directive.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                        continue
                    }
                }
                parserDirectives = false
                continue
            }
            parserDirectives = false
            if trimmed.isEmpty, pending == nil { continue }
            let continues = trimmed.hasSuffix("\\")
            let body = continues ? String(trimmed.dropLast()) : trimmed
            if var open = pending {
                open.text += " " + body
                pending = open
            } else {
                pending = (body, number)
            }
            if !continues, let done = pending {
                pending = nil
                try finish(done.text, line: done.line)
            }
        }
        if let done = pending { try finish(done.text, line: done.line) }
        guard !stages.isEmpty else {
            throw YardError(.buildFailed, "\(file) has no FROM line: a Dockerfile starts from an image (FROM debian:bookworm-slim)")
        }
        self.globalArguments = globalArguments
        self.stages = stages
        self.syntax = syntax
    }

    /// The images the build starts from: `FROM` bases that are not earlier stages.
    public var baseImages: [String] {
        var names = Set<String>()
        var images: [String] = []
        for stage in stages {
            if !names.contains(stage.base.lowercased()), stage.base.lowercased() != "scratch", !images.contains(stage.base) {
                images.append(stage.base)
            }
            if let name = stage.name { names.insert(name.lowercased()) }
        }
        return images
    }

    /// The instruction behind buildah's `STEP k/n: …` line in stage `stage` (1-based, as
    /// buildah's `[stage/count]` prefix; 1 when it prints none).
    public func instruction(stage: Int, step: Int) -> Instruction? {
        guard stages.indices.contains(stage - 1) else { return nil }
        let instructions = stages[stage - 1].instructions
        return instructions.indices.contains(step - 1) ? instructions[step - 1] : nil
    }
}

/// Reads buildah's progress lines (`[2/3] STEP 4/6: RUN make`), remembering the last step,
/// so a failed build names the Dockerfile line that failed.
public struct DockerfileStepTracker: Sendable {
    public private(set) var stage = 1
    public private(set) var step: Int?
    /// The status of the failed `RUN`, from buildah's error line (`… exit status 1`).
    public private(set) var runStatus: Int32?

    public init() {}

    /// Notes `line` if it is a step line or buildah's error about a step.
    public mutating func observe(_ line: String) {
        if let range = line.range(of: "exit status ", options: .backwards),
            let status = Int32(line[range.upperBound...].prefix { $0.isNumber })
        {
            runStatus = status
            return
        }
        var rest = Substring(line)
        var stage = 1
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let inside = rest[rest.index(after: rest.startIndex)..<close]
            guard let slash = inside.firstIndex(of: "/"), let number = Int(inside[..<slash]) else { return }
            stage = number
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        guard rest.hasPrefix("STEP ") else { return }
        let numbers = rest.dropFirst("STEP ".count).prefix { $0 != ":" }
        guard let slash = numbers.firstIndex(of: "/"), let step = Int(numbers[..<slash]) else { return }
        self.stage = stage
        self.step = step
    }

    /// "Dockerfile line 7: RUN false exited with status 1", from buildah's last step and
    /// its error output; nil when no step was seen.
    public func failure(in dockerfile: Dockerfile, file: String) -> String? {
        guard let step, let instruction = dockerfile.instruction(stage: stage, step: step) else { return nil }
        let ended = runStatus.map { "exited with status \($0)" } ?? "failed"
        return "\(file) line \(instruction.line): \(instruction.text) \(ended)"
    }
}

/// Which of a service's variables become build arguments of a Dockerfile build.
public enum DockerfileBuildArguments {
    /// As on Railway: each declared `ARG` whose name is a variable of the service (the
    /// `RAILWAY_*` ones included, when declared). A build secret is never a build argument:
    /// its value would be kept in the image's history; the warnings say which were held back.
    public static func select(
        declared: [String], variables: [String: String], secrets: Set<String>
    ) -> (names: [String], warnings: [String]) {
        var names: [String] = []
        var warnings: [String] = []
        for name in declared where variables[name] != nil {
            if secrets.contains(name) {
                warnings.append(
                    "warning: the Dockerfile declares ARG \(name), which is a build secret: it gets no value "
                        + "(build arguments are kept in the image); read it with RUN --mount=type=secret,id=\(name)")
                continue
            }
            names.append(name)
        }
        return (names, warnings)
    }
}
