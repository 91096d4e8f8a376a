import Foundation
import YardCore

/// The layer cache of Dockerfile builds, one step short of buildah's `--layers` (which
/// buildah 1.28 cannot use with a user-namespace map, docs/architecture.md): the start of a
/// stage that reads nothing from the context — its `FROM` and the instructions before its
/// first `COPY` or `ADD` (the toolchain, the system packages) — is built once as an image of
/// its own, keyed by everything it depends on, and later builds start the stage from it.
public struct DockerfilePrefix: Sendable, Equatable {
    /// The stage (0-based).
    public var stage: Int
    /// `FROM` and the instructions after it up to the first one that reads the context.
    public var instructions: [Dockerfile.Instruction]

    /// The lines `prefix` covers, as the log shows them (`2-4`).
    public var lines: String {
        let first = instructions.first?.line ?? 0
        let last = instructions.last?.line ?? first
        return first == last ? "\(first)" : "\(first)-\(last)"
    }

    /// The stages whose start can be cached: `FROM` a stored image (not an earlier stage, not
    /// `scratch`, no variable), and at least one `RUN` before the first instruction that
    /// reads the context or another stage (`COPY`, `ADD`, `ONBUILD`, a `RUN --mount` of a
    /// bind). None when the file uses what this reader does not follow (heredocs, an
    /// `escape` directive): the build then runs as written.
    public static func cacheable(in dockerfile: Dockerfile, text: String) -> [DockerfilePrefix] {
        let directives = text.split(separator: "\n").prefix { $0.hasPrefix("#") }
        if directives.contains(where: { $0.dropFirst().trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("escape") }) {
            return []
        }
        if dockerfile.stages.contains(where: { $0.instructions.contains { $0.arguments.contains("<<") } }) { return [] }
        var stageNames = Set<String>()
        var prefixes: [DockerfilePrefix] = []
        for (index, stage) in dockerfile.stages.enumerated() {
            defer { if let name = stage.name { stageNames.insert(name.lowercased()) } }
            let base = stage.base.lowercased()
            guard !stageNames.contains(base), base != "scratch", !stage.base.contains("$") else { continue }
            let end = stage.instructions.dropFirst().firstIndex { readsContext($0) } ?? stage.instructions.endIndex
            let instructions = Array(stage.instructions[..<end])
            guard instructions.contains(where: { $0.keyword == "RUN" }) else { continue }
            prefixes.append(DockerfilePrefix(stage: index, instructions: instructions))
        }
        return prefixes
    }

    static func readsContext(_ instruction: Dockerfile.Instruction) -> Bool {
        switch instruction.keyword {
        case "COPY", "ADD", "ONBUILD": return true
        case "RUN":
            let mounts = instruction.arguments.split(whereSeparator: \.isWhitespace).filter { $0.hasPrefix("--mount=") }
            // A bind mount (the default type) reads the context or another stage.
            return mounts.contains { !$0.contains("type=cache") && !$0.contains("type=secret") && !$0.contains("type=tmpfs") }
        default: return false
        }
    }

    /// The `ARG` lines before the first `FROM`, as written (they may give the stage's `ARG`s
    /// their defaults).
    public static func globalPart(of text: String, dockerfile: Dockerfile) -> String {
        let firstFrom = dockerfile.stages.first?.instructions.first?.line ?? 1
        return text.split(separator: "\n", omittingEmptySubsequences: false).prefix(firstFrom - 1)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
    }

    /// The Dockerfile that builds the prefix alone (no context is read).
    public func dockerfile(globalPart: String) -> String {
        var lines = globalPart.isEmpty ? [] : [globalPart]
        lines.append("FROM " + Self.fromArguments(instructions[0]))
        lines += instructions.dropFirst().map(\.text)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The content address of the prefix: its Dockerfile, the id its base image has now, the
    /// build arguments and the build secrets (names and values: a step may read them).
    public func key(globalPart: String, baseImageID: String, buildArguments: [String: String], secrets: [String: String]) -> String {
        var hasher = ContentHasher()
        hasher.add("switchyard-dockerfile-prefix-v1")
        hasher.add(dockerfile(globalPart: globalPart))
        hasher.add(baseImageID)
        for name in buildArguments.keys.sorted() {
            hasher.add(name)
            hasher.add(buildArguments[name] ?? "")
        }
        for name in secrets.keys.sorted() {
            hasher.add("secret:" + name)
            hasher.add(secrets[name] ?? "")
        }
        return hasher.finish()
    }

    /// `FROM`'s arguments without `AS name`.
    static func fromArguments(_ from: Dockerfile.Instruction) -> String {
        let words = from.arguments.split(whereSeparator: \.isWhitespace).map(String.init)
        let cut = words.firstIndex { $0.uppercased() == "AS" } ?? words.endIndex
        return words[..<cut].joined(separator: " ")
    }

    /// The Dockerfile with each cached stage starting `FROM` its prefix's image (`images`:
    /// stage → image name), then the stage's `ARG`s again (their scope is the stage), then
    /// the rest; and the same as a `Dockerfile` whose instructions keep their original lines,
    /// so a failing step is still named by its line in the user's file.
    public static func rewrite(
        _ dockerfile: Dockerfile, globalPart: String, prefixes: [DockerfilePrefix], images: [Int: String]
    ) -> (text: String, tracked: Dockerfile) {
        var tracked = dockerfile
        var lines = globalPart.isEmpty ? [] : [globalPart]
        for (index, stage) in dockerfile.stages.enumerated() {
            var instructions = stage.instructions
            if let image = images[index], let prefix = prefixes.first(where: { $0.stage == index }) {
                var from = stage.instructions[0]
                from.arguments = image + (stage.name.map { " AS \($0)" } ?? "")
                let arguments = prefix.instructions.filter { $0.keyword == "ARG" }
                instructions = [from] + arguments + Array(stage.instructions.dropFirst(prefix.instructions.count))
            }
            tracked.stages[index].instructions = instructions
            lines += instructions.map(\.text)
        }
        return (lines.joined(separator: "\n") + "\n", tracked)
    }
}
