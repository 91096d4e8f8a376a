import Testing

@testable import YardBuild

@Suite("Version ranges")
struct VersionRangeTests {
    @Test func versionsAreReadFromVersionCommandOutput() {
        #expect(ToolVersion(firstIn: "Python 3.11.7") == ToolVersion(3, 11, 7))
        #expect(ToolVersion(firstIn: "v20.20.2") == ToolVersion(20, 20, 2))
        #expect(ToolVersion(firstIn: "go version go1.19.8 linux/amd64") == ToolVersion(1, 19, 8))
        #expect(ToolVersion(firstIn: "openjdk 17.0.12 2024-07-16") == ToolVersion(17, 0, 12))
        #expect(ToolVersion(firstIn: "cargo 1.79.0 (ffa9cf99a 2024-06-03)") == ToolVersion(1, 79, 0))
        #expect(ToolVersion(firstIn: "Swift version 6.3") == ToolVersion(6, 3, 0))
        #expect(ToolVersion(firstIn: "unknown") == nil)
    }

    @Test func rangesFollowNpmSemantics() throws {
        let cases: [(String, [String], [String])] = [
            ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
            ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
            ("^0.0.3", ["0.0.3"], ["0.0.4"]),
            ("^1.x", ["1.0.0", "1.99.0"], ["2.0.0"]),
            ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
            ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
            (">1.2", ["1.3.0"], ["1.2.9"]),
            ("<=1.2", ["1.2.9"], ["1.3.0"]),
            ("<1.2", ["1.1.9"], ["1.2.0"]),
            ("1.2.x", ["1.2.0", "1.2.5"], ["1.3.0"]),
            ("1.2.3 - 2.3", ["1.2.3", "2.3.9"], ["1.2.2", "2.4.0"]),
            ("1.2.3 - 2.3.4", ["2.3.4"], ["2.3.5"]),
            (">=1.0.0-beta.1 <2", ["1.0.0"], ["2.0.0"]),
            ("=1.2.3", ["1.2.3"], ["1.2.4"]),
            ("1 || 3", ["1.5.0", "3.0.0"], ["2.0.0"]),
            ("*", ["0.0.1", "99.0.0"], []),
            ("<*", [], ["1.0.0"]),
        ]
        for (text, inside, outside) in cases {
            let range = try #require(VersionRange(text), "range \(text)")
            for version in inside {
                #expect(range.contains(try #require(ToolVersion(firstIn: version))), "\(version) in \(text)")
            }
            for version in outside {
                #expect(!range.contains(try #require(ToolVersion(firstIn: version))), "\(version) not in \(text)")
            }
        }
    }

    @Test func nonsenseIsNotARange() {
        for text in ["lts/*", "latest", "1.x.3", ">=abc", "1.2.3.4", "1 - "] {
            #expect(VersionRange(text) == nil, "\(text)")
        }
    }
}
