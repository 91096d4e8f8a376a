import Testing

@testable import YardServer

/// Issue 16 item 4: `yard serve` builds provider apps in images by default, wherever it can.
@Suite("where provider builds run")
struct BuildPlaceTests {
    static func everyTool(_ name: String) -> String? { "/usr/bin/\(name)" }

    @Test("automatic: images in the sandbox with every image tool; folders without the sandbox or a tool, saying why")
    func automatic() {
        let images = SwitchyardServer.chooseBuildPlace(.automatic, sandboxed: true, locate: Self.everyTool)
        #expect(images.inImages && images.summary == "in images of each provider's Debian 12 environment (--build-in-folders uses this machine's toolchains instead)")
        let plain = SwitchyardServer.chooseBuildPlace(.automatic, sandboxed: false, locate: Self.everyTool)
        #expect(!plain.inImages && plain.summary.hasSuffix("(image builds need the sandbox runtime)"))
        let noSkopeo = SwitchyardServer.chooseBuildPlace(.automatic, sandboxed: true) { $0 == "skopeo" ? nil : "/usr/bin/\($0)" }
        #expect(!noSkopeo.inImages && noSkopeo.summary.contains("(skopeo not installed; for image builds: apt-get install -y buildah"), "\(noSkopeo.summary)")
    }

    @Test("--build-in-images and --build-in-folders decide whatever the machine has")
    func explicit() {
        #expect(SwitchyardServer.chooseBuildPlace(.images, sandboxed: false) { _ in nil }.inImages)
        #expect(!SwitchyardServer.chooseBuildPlace(.folders, sandboxed: true, locate: Self.everyTool).inImages)
    }
}
