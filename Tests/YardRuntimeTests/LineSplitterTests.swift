import Testing

@testable import YardRuntime

@Suite struct LineSplitterTests {
    @Test func splitsAcrossChunksAndKeepsThePartialLastLine() {
        var splitter = LineSplitter()
        #expect(splitter.append(Array("one\ntw".utf8)) == ["one"])
        #expect(splitter.append(Array("o\nthree".utf8)) == ["two"])
        #expect(splitter.finish() == "three")
        #expect(splitter.finish() == nil)
    }

    @Test func dropsCarriageReturnBeforeNewlineAndKeepsEmptyLines() {
        var splitter = LineSplitter()
        #expect(splitter.append(Array("a\r\n\nb\r".utf8)) == ["a", ""])
        #expect(splitter.append(Array("\n".utf8)) == ["b"])
        #expect(splitter.finish() == nil)
    }

    @Test func cutsOverlongLinesIntoPiecesOfTheCap() {
        var splitter = LineSplitter(maxLineBytes: 8)
        let lines = splitter.append(Array(String(repeating: "x", count: 20).utf8) + [UInt8(ascii: "\n")])
        #expect(lines == ["xxxxxxxx", "xxxxxxxx", "xxxx"])
    }

    @Test func neverCutsInsideAUTF8Character() {
        var splitter = LineSplitter(maxLineBytes: 8)
        // "aaaaaaa" is 7 bytes, then "é" is 2: the cap falls inside it.
        let lines = splitter.append(Array("aaaaaaaébc\n".utf8))
        #expect(lines == ["aaaaaaa", "ébc"])
    }
}
