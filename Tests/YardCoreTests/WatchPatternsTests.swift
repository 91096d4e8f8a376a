import Testing
import YardCore

@Suite("watch patterns")
struct WatchPatternsTests {
    @Test("a pattern with a slash is anchored at the repository root")
    func anchored() {
        let patterns = WatchPatterns(["/api/**"])
        #expect(patterns.matches("api/main.py"))
        #expect(patterns.matches("api/deep/er/file.txt"))
        #expect(!patterns.matches("web/api/main.py"))
        #expect(!patterns.matches("apis/main.py"))
        // Without the leading slash a pattern with an inner slash is anchored too.
        #expect(WatchPatterns(["api/*.py"]).matches("api/main.py"))
        #expect(!WatchPatterns(["api/*.py"]).matches("x/api/main.py"))
        #expect(!WatchPatterns(["api/*.py"]).matches("api/sub/main.py"))
    }

    @Test("a pattern without a slash matches a name at any depth, a file or a folder")
    func unanchored() {
        let patterns = WatchPatterns(["*.md"])
        #expect(patterns.matches("README.md"))
        #expect(patterns.matches("docs/guide/intro.md"))
        #expect(!patterns.matches("docs/guide/intro.mdx"))
        let folder = WatchPatterns(["web"])
        #expect(folder.matches("web/index.js"))
        #expect(folder.matches("apps/web/index.js"))
        #expect(!folder.matches("website/index.js"))
    }

    @Test("** stands for any number of folders, including none")
    func doubleStar() {
        let patterns = WatchPatterns(["/src/**/*.js"])
        #expect(patterns.matches("src/a.js"))
        #expect(patterns.matches("src/x/y/a.js"))
        #expect(!patterns.matches("src/x/a.ts"))
        #expect(WatchPatterns(["**/package.json"]).matches("package.json"))
        #expect(WatchPatterns(["**/package.json"]).matches("a/b/package.json"))
        #expect(WatchPatterns(["**/fixtures/**"]).matches("t/fixtures/a/b"))
        #expect(!WatchPatterns(["**/fixtures/**"]).matches("t/fixture/a"))
    }

    @Test("a trailing slash matches folders only: the files under them, not a file of that name")
    func directoryOnly() {
        let patterns = WatchPatterns(["build/"])
        #expect(patterns.matches("build/out.o"))
        #expect(patterns.matches("a/build/out.o"))
        #expect(!patterns.matches("build"))
    }

    @Test("the last matching pattern decides: ! takes paths out again")
    func negation() {
        let patterns = WatchPatterns(["/api/**", "!/api/**/*.md", "/api/docs/KEEP.md"])
        #expect(patterns.matches("api/app.py"))
        #expect(!patterns.matches("api/README.md"))
        #expect(!patterns.matches("api/docs/other.md"))
        #expect(patterns.matches("api/docs/KEEP.md"))
        #expect(!WatchPatterns(["!/api/**"]).matches("api/app.py"))
    }

    @Test("?, character classes, escapes, comments and blank lines")
    func syntax() {
        #expect(WatchPatterns(["file?.txt"]).matches("file1.txt"))
        #expect(!WatchPatterns(["file?.txt"]).matches("file10.txt"))
        #expect(WatchPatterns(["v[0-9].json"]).matches("v7.json"))
        #expect(!WatchPatterns(["v[0-9].json"]).matches("vx.json"))
        #expect(WatchPatterns(["v[!0-9].json"]).matches("vx.json"))
        #expect(WatchPatterns(["\\!important"]).matches("!important"))
        #expect(WatchPatterns(["\\#hash"]).matches("#hash"))
        #expect(WatchPatterns(["a\\*b"]).matches("a*b"))
        #expect(!WatchPatterns(["a\\*b"]).matches("axb"))
        let commented = WatchPatterns(["# a comment", "", "   "])
        #expect(commented.isEmpty)
    }

    @Test("a push deploys when any changed path matches, and always when there are no patterns")
    func matchesAny() {
        let patterns = WatchPatterns(["/web/**"])
        #expect(patterns.matchesAny(of: ["api/a.py", "web/index.js"]))
        #expect(!patterns.matchesAny(of: ["api/a.py", "README.md"]))
        #expect(!patterns.matchesAny(of: []))
        #expect(WatchPatterns([]).matchesAny(of: ["anything"]))
        #expect(WatchPatterns([]).matchesAny(of: []))
    }
}
