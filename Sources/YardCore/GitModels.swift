/// The commit a `git push` deployment was built from; its fields become the
/// `RAILWAY_GIT_*` variables of the deployment.
public struct GitCommit: Codable, Sendable, Hashable {
    public var sha: String
    public var branch: String
    /// The commit message's first line.
    public var message: String
    /// The author's name.
    public var author: String

    public init(sha: String, branch: String, message: String, author: String) {
        self.sha = sha
        self.branch = branch
        self.message = message
        self.author = author
    }

    /// `RAILWAY_GIT_COMMIT_SHA`, `RAILWAY_GIT_BRANCH`, `RAILWAY_GIT_COMMIT_MESSAGE`, `RAILWAY_GIT_AUTHOR`.
    public var variables: [String: String] {
        [
            "RAILWAY_GIT_COMMIT_SHA": sha,
            "RAILWAY_GIT_BRANCH": branch,
            "RAILWAY_GIT_COMMIT_MESSAGE": message,
            "RAILWAY_GIT_AUTHOR": author,
        ]
    }
}

/// One ref a push changed, as git's post-receive hook reads it (`old new ref`); an all-zero
/// id is a ref that did not exist before (old) or was deleted (new).
public struct GitRefUpdate: Codable, Sendable, Hashable {
    public var ref: String
    public var old: String
    public var new: String

    public init(ref: String, old: String, new: String) {
        self.ref = ref
        self.old = old
        self.new = new
    }

    public static func isZero(_ id: String) -> Bool { !id.isEmpty && id.allSatisfy { $0 == "0" } }

    /// Checks what the post-receive hook (or anyone holding a token) sent before any of it
    /// reaches git: full hex object ids only and a ref name git itself accepts, so nothing
    /// can be read as an option (`--output=FILE`) or a revision expression.
    public func validate() throws(YardError) {
        for (name, id) in [("old", old), ("new", new)] where !GitObjectID.isValid(id) {
            throw YardError(
                .invalidInput,
                "\(name) '\(id.prefix(80))' of \(ref.prefix(200)) is not a full git object id (40 or 64 hex digits): nothing was done")
        }
        guard GitRefName.isValid(ref), !ref.hasPrefix("-"), branch.map({ !$0.hasPrefix("-") && $0 != "@" }) ?? true else {
            throw YardError(.invalidInput, "'\(ref.prefix(200))' is not a ref name git accepts (e.g. refs/heads/main): nothing was done")
        }
    }

    /// The branch name of a `refs/heads/` ref.
    public var branch: String? {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : nil
    }
}

/// `POST /v1/projects/{project}/git/push`: what the repository's post-receive hook reports.
public struct GitPushRequest: Codable, Sendable, Hashable {
    public var updates: [GitRefUpdate]

    public init(updates: [GitRefUpdate]) { self.updates = updates }
}

/// `PUT …/services/{service}/branch`: the branch whose pushes deploy the service in that
/// environment; nil unlinks it.
public struct ServiceBranchLink: Codable, Sendable, Hashable {
    public var branch: String?

    public init(branch: String?) { self.branch = branch }

    /// A branch name git accepts for a ref (`git check-ref-format` rules on `refs/heads/<name>`),
    /// and not one git would read as an option (a leading `-`) or as HEAD (`@`).
    public static func validate(_ branch: String) throws(YardError) {
        guard !branch.hasPrefix("-"), branch != "@", GitRefName.isValid("refs/heads/" + branch) else {
            throw YardError(.invalidInput, "'\(branch)' is not a branch name git accepts (e.g. main or release/v2)")
        }
    }
}

/// A full git object id: 40 (SHA-1) or 64 (SHA-256) hex digits, never an abbreviation, a
/// revision expression or anything git could parse as an option.
public enum GitObjectID {
    public static func isValid(_ id: String) -> Bool {
        (id.utf8.count == 40 || id.utf8.count == 64) && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// `git check-ref-format` for a full ref name (`refs/heads/main`), without `--allow-onelevel`.
public enum GitRefName {
    public static func isValid(_ ref: String) -> Bool {
        let forbidden: Set<Unicode.Scalar> = [" ", "~", "^", ":", "?", "*", "[", "\\"]
        guard ref.utf8.count <= 1024, ref != "@", !ref.hasPrefix("/"), !ref.hasSuffix("/"), !ref.hasSuffix("."),
            !ref.contains(".."), !ref.contains("//"), !ref.contains("@{"),
            ref.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !forbidden.contains($0) })
        else { return false }
        let components = ref.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count >= 2 else { return false }
        return components.allSatisfy { !$0.isEmpty && !$0.hasPrefix(".") && !$0.hasSuffix(".lock") }
    }
}
