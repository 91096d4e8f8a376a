import Foundation
import Testing

@testable import YardCore

@Suite("Secret masking, tree hashes and variable references")
struct BuildSupportTests {
    @Test func masksEveryOccurrenceLongestFirst() {
        let masker = SecretMasker(["s3cr3t-token", "s3cr3t", "ab"])
        #expect(masker.mask("token=s3cr3t-token and s3cr3t again") == "token=*** and *** again")
        // Too short to mask without rewriting ordinary text.
        #expect(masker.mask("abc") == "abc")
        #expect(SecretMasker(["", "x"]).isEmpty)
    }

    @Test func masksEachLineOfAMultiLineSecret() {
        let masker = SecretMasker(["-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"])
        #expect(masker.mask("MIIEvQIBADANBg") == "***")
        #expect(masker.mask("prefix -----END KEY----- suffix") == "prefix *** suffix")
    }

    @Test func treeHashIgnoresTimesButNotContentModesOrNames() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("yardhash-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("src"), withIntermediateDirectories: true)
        try "print(1)\n".write(to: root.appendingPathComponent("src/main.py"), atomically: true, encoding: .utf8)
        try "flask==3.0.3\n".write(to: root.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        let first = try ContentHash.sha256(treeAt: root)

        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1000)],
                                              ofItemAtPath: root.appendingPathComponent("src/main.py").path)
        #expect(try ContentHash.sha256(treeAt: root) == first, "a timestamp is not content")

        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.appendingPathComponent("src/main.py").path)
        let executable = try ContentHash.sha256(treeAt: root)
        #expect(executable != first, "the executable bit changes how an app runs")

        try "print(2)\n".write(to: root.appendingPathComponent("src/main.py"), atomically: true, encoding: .utf8)
        #expect(try ContentHash.sha256(treeAt: root) != executable)

        try FileManager.default.moveItem(at: root.appendingPathComponent("src/main.py"), to: root.appendingPathComponent("src/app.py"))
        #expect(try ContentHash.sha256(treeAt: root) != executable)
    }

    @Test func hasherSeparatesFields() {
        var one = ContentHasher()
        one.add("ab")
        one.add("c")
        var two = ContentHasher()
        two.add("a")
        two.add("bc")
        #expect(one.finish() != two.finish())
    }

    @Test func resolvesReferencesMixedWithText() throws {
        var asked: [VariableReferences.Reference] = []
        let value = try VariableReferences.resolve("https://${{backend.RAILWAY_PUBLIC_DOMAIN}}/api?k=${{ KEY }}") { reference in
            asked.append(reference)
            return reference.service == nil ? "v" : "backend.example"
        }
        #expect(value == "https://backend.example/api?k=v")
        #expect(asked == [.init(service: "backend", key: "RAILWAY_PUBLIC_DOMAIN"), .init(service: nil, key: "KEY")])
        #expect(try VariableReferences.resolve("plain ${{ unclosed") { _ in "x" } == "plain ${{ unclosed")
    }

    @Test func unresolvableReferenceThrowsTheLookupsError() {
        #expect(throws: YardError.self) {
            try VariableReferences.resolve("${{Postgres.DATABASE_URL}}") { reference in
                throw YardError(.invalidConfig, "no service \(reference.service ?? "")")
            }
        }
    }
}
