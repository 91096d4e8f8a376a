import Foundation
import YardCore
import YardImage

/// Images for tests: a store in a folder of the test's own (`<data>/images` of a test
/// server, or a scratch folder), holding `debian:bookworm-slim` imported from the
/// machine's debootstrap cache (made on first use, about 30 s).
public enum TestImages {
    /// Fails with the install command when an image tool is missing.
    public static func requireTools() throws {
        for tool in ["buildah", "podman", "skopeo", "debootstrap", "runc"] where !hasTool(tool) {
            throw YardError(.unavailable, "this test needs \(tool): run scripts/setup.sh (or apt-get install -y buildah podman runc skopeo debootstrap uidmap)")
        }
    }

    /// A prepared store in `directory` with `debian:bookworm-slim` in it.
    public static func storeWithDebian(in directory: URL) async throws -> ImageStore {
        try requireTools()
        let store = ImageStore(configuration: .init(directory: directory))
        try store.prepare()
        if try await store.inspect("docker.io/library/debian:bookworm-slim") == nil {
            _ = try await store.importDebootstrap(suite: "bookworm")
        }
        return store
    }

    private static func hasTool(_ name: String) -> Bool {
        ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }
}
