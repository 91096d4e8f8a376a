import ArgumentParser
import YardServer

/// `--build-in-images` / `--build-in-folders`: where provider apps build.
enum BuildPlaceFlag: String, EnumerableFlag {
    case buildInImages
    case buildInFolders

    var place: SwitchyardServer.BuildPlace {
        switch self {
        case .buildInImages: .images
        case .buildInFolders: .folders
        }
    }

    static func help(for value: BuildPlaceFlag) -> ArgumentHelp? {
        switch value {
        case .buildInImages:
            "Build every provider app into an image of its provider's Debian 12 environment, whose toolchain runs it (needs the sandbox)."
        case .buildInFolders:
            "Build provider apps in folders with this machine's toolchains, as before images were the default."
        }
    }
}
