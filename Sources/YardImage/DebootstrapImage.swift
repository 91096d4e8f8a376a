import Foundation
import YardCore
import YardRuntime

/// Base images made on this machine with `debootstrap`, for sites that reach Debian's
/// mirror but no image registry: `FROM debian:bookworm-slim` then resolves locally.
/// The root filesystem is made once per suite (about 30 s) and kept as a tarball in a
/// machine-wide cache, so every data directory imports it in a few seconds.
public enum DebootstrapImage {
    /// `/var/cache/switchyard/debootstrap`.
    public static let cacheDirectory = URL(fileURLWithPath: "/var/cache/switchyard/debootstrap")

    /// The name a suite's image is given when none is asked for: Docker Hub's Debian image
    /// of that suite (`docker.io/library/debian:bookworm-slim`).
    public static func defaultReference(suite: String) throws(YardError) -> ImageReference {
        try checkSuite(suite)
        return try ImageReference(parsing: "debian:\(suite)-slim")
    }

    /// The cached root filesystem tarball of `suite` (`minbase` variant), made first when
    /// the cache has none. `progress` gets a line before the long step.
    public static func tarball(
        suite: String, cache: URL = cacheDirectory, progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> URL {
        try checkSuite(suite)
        let tarball = cache.appendingPathComponent("\(suite)-minbase.tar")
        if FileManager.default.fileExists(atPath: tarball.path) { return tarball }
        guard let debootstrap = SystemTool.locate("debootstrap"), let tar = SystemTool.locate("tar") else {
            throw SystemTool.missing("debootstrap", neededFor: "making a base image")
        }
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        // Made beside the cache entry and renamed into place, so a crash leaves no half tarball.
        let work = cache.appendingPathComponent(".\(suite)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        progress("debootstrap: making a \(suite) root filesystem (about 30 s, once per machine)")
        try await SystemCommand(debootstrap, ["--variant=minbase", suite, root.path]).run()
        // Downloaded packages are not part of the image.
        let archives = root.appendingPathComponent("var/cache/apt/archives")
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: archives.path)) ?? [] where entry.hasSuffix(".deb") {
            try? FileManager.default.removeItem(at: archives.appendingPathComponent(entry))
        }
        let partial = work.appendingPathComponent("root.tar")
        try await SystemCommand(tar, ["--numeric-owner", "-C", root.path, "-cf", partial.path, "."]).run()
        try FileManager.default.moveItem(at: partial, to: tarball)
        return tarball
    }

    private static func checkSuite(_ suite: String) throws(YardError) {
        guard !suite.isEmpty, suite.count <= 32, suite.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }),
            suite.first?.isLetter == true
        else {
            throw YardError(.invalidInput, "'\(suite)' is not a Debian suite name (bookworm, trixie, bullseye)")
        }
    }
}

extension ImageStore {
    /// Imports `suite`'s root filesystem (made with debootstrap, cached per machine) as
    /// `reference`, by default Docker Hub's name for it (`debian:bookworm-slim`).
    public func importDebootstrap(
        suite: String, as reference: ImageReference? = nil, cache: URL = DebootstrapImage.cacheDirectory,
        progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> ImageArtifact {
        let name = try reference ?? DebootstrapImage.defaultReference(suite: suite)
        let tarball = try await DebootstrapImage.tarball(suite: suite, cache: cache, progress: progress)
        return try await importRootFilesystem(tarball: tarball, as: name)
    }
}
