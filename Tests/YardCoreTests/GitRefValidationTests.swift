import Testing
import YardCore

/// Issue 13.3: what reaches git from a push report, a webhook or `yard service link` is a
/// full object id or a ref name git accepts, never an option or a revision expression.
@Suite("git object ids and ref names")
struct GitRefValidationTests {
    static let sha1 = "0123456789abcdef0123456789abcdef01234567"
    static let sha256 = String(repeating: "ab", count: 32)

    @Test("only full lowercase hex ids of 40 or 64 digits")
    func objectIDs() {
        #expect(GitObjectID.isValid(Self.sha1))
        #expect(GitObjectID.isValid(Self.sha256))
        #expect(GitObjectID.isValid(String(repeating: "0", count: 40)))
        for bad in [
            "", "0123456", "--output=/tmp/x", "-" + String(Self.sha1.dropFirst()), Self.sha1 + "^", "HEAD", "main",
            Self.sha1.uppercased(), Self.sha1 + "0", "@{-1}", Self.sha1.replacingOccurrences(of: "a", with: "g"),
        ] {
            #expect(!GitObjectID.isValid(bad), "\(bad) accepted")
        }
    }

    @Test("git check-ref-format's rules")
    func refNames() {
        for good in ["refs/heads/main", "refs/heads/release/v2", "refs/heads/feature-x", "refs/tags/v1.0", "refs/heads/a.b", "refs/heads/ünï"] {
            #expect(GitRefName.isValid(good), "\(good) refused")
        }
        for bad in [
            "main", "refs/heads/", "/refs/heads/x", "refs//heads/x", "refs/heads/a..b", "refs/heads/.hidden", "refs/heads/x.lock",
            "refs/heads/x.", "refs/heads/a b", "refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*",
            "refs/heads/a[", "refs/heads/a\\b", "refs/heads/a@{1}", "@", "refs/heads/a\u{7F}", "refs/heads/tab\there",
        ] {
            #expect(!GitRefName.isValid(bad), "\(bad) accepted")
        }
    }

    @Test("a push report with an option or expression for old, new or ref is refused naming the field")
    func refUpdates() throws {
        try GitRefUpdate(ref: "refs/heads/main", old: String(repeating: "0", count: 40), new: Self.sha1).validate()
        try GitRefUpdate(ref: "refs/tags/v1", old: Self.sha256, new: Self.sha256).validate()
        let newOption = #expect(throws: YardError.self) {
            try GitRefUpdate(ref: "refs/heads/main", old: Self.sha1, new: "--output=/tmp/pwned").validate()
        }
        #expect(newOption?.message.contains("new '--output=/tmp/pwned'") == true, "\(String(describing: newOption))")
        let oldOption = #expect(throws: YardError.self) {
            try GitRefUpdate(ref: "refs/heads/main", old: "--output=/tmp/x", new: Self.sha1).validate()
        }
        #expect(oldOption?.message.contains("old '--output=/tmp/x'") == true)
        #expect(throws: YardError.self) { try GitRefUpdate(ref: "refs/heads/main", old: Self.sha1, new: "HEAD~1").validate() }
        #expect(throws: YardError.self) { try GitRefUpdate(ref: "--upload-pack=x", old: Self.sha1, new: Self.sha1).validate() }
        #expect(throws: YardError.self) { try GitRefUpdate(ref: "refs/heads/a..b", old: Self.sha1, new: Self.sha1).validate() }
        #expect(throws: YardError.self) { try GitRefUpdate(ref: "refs/heads/--output=/x", old: Self.sha1, new: Self.sha1).validate() }
    }

    @Test("branch names for links and pull requests follow the same rules, and never start with -")
    func branches() throws {
        for good in ["main", "release/v2", "feature-x", "dependabot/npm/lodash-4.17.21"] {
            try ServiceBranchLink.validate(good)
        }
        for bad in ["", "-x", "--output=/tmp/x", "a..b", ".hidden", "x.lock", "a/.b", "a//b", "a b", "a@{u}", "@", "x/", "x."] {
            #expect(throws: YardError.self, "\(bad) accepted") { try ServiceBranchLink.validate(bad) }
        }
    }
}
