import Foundation
import Testing
import YardCore

@Suite("Paths from an upload, confined to it")
struct UploadPathTests {
    /// A fresh folder standing for an unpacked upload; removed by the caller.
    static func upload(_ build: (URL) throws -> Void) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("upload-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try build(root)
        return root
    }

    static func link(_ name: String, _ target: String, in root: URL) throws {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    static func folder(_ name: String, in root: URL) throws {
        try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
    }

    @Test func plainFoldersAndLinksInsideResolveToRealFolders() throws {
        let root = try Self.upload { root in
            try Self.folder("apps/web", in: root)
            try Self.link("web", "apps/web", in: root)
            try Self.link("apps/alias", "../apps/./web", in: root)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try UploadPath.resolvedRelative(".", in: root) == ".")
        #expect(try UploadPath.resolvedRelative("apps/web", in: root) == "apps/web")
        #expect(try UploadPath.resolvedRelative("./web", in: root) == "apps/web")
        #expect(try UploadPath.resolvedRelative("apps/alias/", in: root) == "apps/web")
        #expect(try UploadPath.resolvedRelative("apps/web/../web/missing", in: root) == "apps/web/missing")
        #expect(try UploadPath.resolve("web", in: root).path == root.appendingPathComponent("apps/web").path)
    }

    @Test func aRootThatIsALinkOutOfTheUploadIsRefusedNamingTheLink() throws {
        let root = try Self.upload { root in try Self.link("sub", "../..", in: root) }
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            _ = try UploadPath.resolve("./sub", in: root)
            Issue.record("a root linked out of the upload resolved")
        } catch {
            #expect(error.link == "sub" && error.target == "../..")
            #expect(error.description.contains("'sub' -> '../..'"))
        }
        #expect(UploadPath.escapingLinks(in: root).map(\.path) == ["sub"])
    }

    @Test func absoluteTargetsAndDotDotAboveTheTopAreRefused() throws {
        let root = try Self.upload { root in
            try Self.link(".python-version", "/etc/shadow", in: root)
            try Self.folder("a", in: root)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: UploadPath.Escape.self) { try UploadPath.resolve(".python-version", in: root) }
        #expect(throws: UploadPath.Escape.self) { try UploadPath.resolve("a/../..", in: root) }
        #expect(throws: UploadPath.Escape.self) { try UploadPath.resolve("/etc", in: root) }
    }

    /// `..` after a link climbs from where the link points, as the kernel does: a lexical
    /// check would be fooled both ways.
    @Test func dotDotAfterALinkIsFollowedFromTheLinksTarget() throws {
        let root = try Self.upload { root in
            try Self.folder("x/y/z", in: root)
            try Self.link("same", ".", in: root)
            try Self.link("deep", "x/y/z", in: root)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        // `same/..` looks like the root but is its parent.
        #expect(throws: UploadPath.Escape.self) { try UploadPath.resolve("same/..", in: root) }
        // `deep/../..` looks like it leaves, but stays inside at x.
        #expect(try UploadPath.resolvedRelative("deep/../..", in: root) == "x")
    }

    @Test func linkChainsThatEscapeOrLoopAreListed() throws {
        let root = try Self.upload { root in
            try Self.folder("ok", in: root)
            try Self.link("ok/here", "../ok", in: root)
            try Self.link("one", "two", in: root)
            try Self.link("two", "one", in: root)
            try Self.link("same", ".", in: root)
            try Self.link("ok/up", "../same/..", in: root)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        let escapes = UploadPath.escapingLinks(in: root)
        #expect(Set(escapes.map(\.path)) == ["one", "two", "ok/up"])
        #expect(escapes.filter(\.isLoop).count == 2)
    }
}
