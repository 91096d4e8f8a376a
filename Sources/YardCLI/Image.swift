import ArgumentParser
import Foundation
import YardControl
import YardCore
import YardImage

/// `yard image`: the machine's image store, for sites with no registry. Runs on the server's
/// machine, as the server's user, on its data directory (the store is shared safely with a
/// running `yard serve`).
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Bring images onto this machine without a registry (`import`), or list them (`ls`).",
        subcommands: [ImageImport.self, ImageList.self]
    )
}

/// Where the server's image store is.
struct ImageStoreOptions: ParsableArguments {
    @Option(help: "The server's data directory (default /var/lib/switchyard for root, else ~/.local/share/switchyard).")
    var dataDir: String?

    func store() throws -> ImageStore {
        let directory = URL(fileURLWithPath: dataDir ?? Serve.defaultDataDirectory())
        let configuration = Orchestrator.Configuration(
            dataDirectory: directory, baseDomain: "", platformExecutable: "", hostEnvironment: [:])
        let store = configuration.imageStore
        try store.prepare()
        return store
    }
}

/// `yard image import REF FILE.tar` (docker-archive or oci-archive, as `docker save` and
/// `podman save` write them) and `yard image import REF --debootstrap SUITE`.
struct ImageImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an image under REF: a `docker save`/`podman save` tarball, or a Debian root filesystem (--debootstrap).",
        discussion: """
            An image service (`yard add --image REF`) whose registry cannot be reached deploys the imported \
            image. Examples: yard image import redis:7 redis.tar; yard image import debian:bookworm-slim --debootstrap bookworm
            """
    )

    @OptionGroup var store: ImageStoreOptions

    @Argument(help: "The name to import the image as, e.g. redis:7 or ghcr.io/org/app:tag.")
    var reference: String

    @Argument(help: "The tarball `docker save IMAGE -o FILE.tar` or `podman save` wrote.")
    var file: String?

    @Option(help: "Make the image from a Debian suite's root filesystem with debootstrap (e.g. bookworm) instead of a file.")
    var debootstrap: String?

    @Flag(help: "Print the imported image as JSON.")
    var json = false

    func validate() throws {
        guard (file == nil) != (debootstrap == nil) else { throw ValidationError("give a FILE.tar, or --debootstrap SUITE") }
        do {
            _ = try ImageReference(parsing: reference)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        try await reportingErrors {
            let images = try store.store()
            let name = try ImageReference(parsing: reference)
            let image: ImageArtifact
            if let debootstrap {
                image = try await images.importDebootstrap(suite: debootstrap, as: name) { print($0) }
            } else if let file {
                image = try await images.importArchive(URL(fileURLWithPath: file), as: name)
            } else {
                return
            }
            if json { try Output.json(image); return }
            print("Imported \(name.familiarName) (\(image.id.prefix(19))); `yard add --image \(name.familiarName)` deploys it.")
        }
    }
}

/// `yard image ls`: the images on this machine.
struct ImageList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images on this machine.")

    @OptionGroup var store: ImageStoreOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let images = try await store.store().images()
            if json { try Output.json(images); return }
            for image in images {
                let names = image.names.isEmpty ? "<none>" : image.names.joined(separator: ", ")
                print("\(image.id.dropFirst(7).prefix(12))  \(ImageStore.formatSize(image.sizeBytes))  \(names)")
            }
        }
    }
}
