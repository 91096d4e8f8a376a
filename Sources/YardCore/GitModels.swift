/// The commit a `git push` deployment was built from; its fields become the
/// `RAILWAY_GIT_*` variables of the deployment.
public struct GitCommit: Codable, Sendable, Equatable {
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
public struct GitRefUpdate: Codable, Sendable, Equatable {
    public var ref: String
    public var old: String
    public var new: String

    public init(ref: String, old: String, new: String) {
        self.ref = ref
        self.old = old
        self.new = new
    }

    public static func isZero(_ id: String) -> Bool { !id.isEmpty && id.allSatisfy { $0 == "0" } }

    /// The branch name of a `refs/heads/` ref.
    public var branch: String? {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : nil
    }
}

/// `POST /v1/projects/{project}/git/push`: what the repository's post-receive hook reports.
public struct GitPushRequest: Codable, Sendable, Equatable {
    public var updates: [GitRefUpdate]

    public init(updates: [GitRefUpdate]) { self.updates = updates }
}

/// `PUT …/services/{service}/branch`: the branch whose pushes deploy the service in that
/// environment; nil unlinks it.
public struct ServiceBranchLink: Codable, Sendable, Equatable {
    public var branch: String?

    public init(branch: String?) { self.branch = branch }

    /// A branch name git accepts for a ref: no spaces, `..`, control characters or leading `-`.
    public static func validate(_ branch: String) throws(YardError) {
        let forbidden: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\"]
        guard !branch.isEmpty, !branch.hasPrefix("-"), !branch.hasPrefix("/"), !branch.hasSuffix("/"), !branch.hasSuffix(".lock"),
            !branch.contains(".."), !branch.contains("//"), !branch.contains("@{"),
            branch.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }), !branch.contains(where: forbidden.contains)
        else {
            throw YardError(.invalidInput, "'\(branch)' is not a branch name git accepts (e.g. main or release/v2)")
        }
    }
}
