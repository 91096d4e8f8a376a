import Foundation
import YardRuntime

/// Where provider builds run: in an image of the provider's Debian 12 environment (issue 16,
/// the default wherever the sandbox and the image tools are) or in a folder with this
/// machine's toolchains (`yard serve --build-in-folders`).
extension SwitchyardServer {
    public enum BuildPlace: String, Sendable {
        /// Images when the runtime is the sandbox and the image tools are installed.
        case automatic
        case images
        case folders
    }

    /// The tools an image build runs (debootstrap makes the Debian base once per machine).
    static let imageBuildTools = ["buildah", "podman", "skopeo", "runc", "debootstrap"]

    /// Whether provider builds make images, and the line `yard serve` prints about it.
    static func chooseBuildPlace(
        _ place: BuildPlace, sandboxed: Bool, locate: (String) -> String? = { SystemTool.locate($0) }
    ) -> (inImages: Bool, summary: String) {
        let images = "in images of each provider's Debian 12 environment"
        let folders = "in folders with this machine's toolchains"
        switch place {
        case .images:
            return (true, "\(images) (--build-in-images)")
        case .folders:
            return (false, "\(folders) (--build-in-folders)")
        case .automatic:
            guard sandboxed else { return (false, "\(folders) (image builds need the sandbox runtime)") }
            let missing = imageBuildTools.filter { locate($0) == nil }
            guard missing.isEmpty else {
                return (false, "\(folders) (\(missing.joined(separator: ", ")) not installed; for image builds: apt-get install -y buildah podman runc skopeo debootstrap uidmap)")
            }
            return (true, "\(images) (--build-in-folders uses this machine's toolchains instead)")
        }
    }
}
