import Foundation
import Testing
import YardCore

@testable import YardBuild

@Suite("Database images for the swarm runtime")
struct DatabaseImageTests {
    @Test("each kind installs its Debian package, owns its mount path as the server's user, and runs as that user")
    func eachKindRunsAsItsServersUser() {
        for (kind, user) in [(DatabaseKind.postgres, "postgres"), (.redis, "redis"), (.mysql, "mysql")] {
            let file = DatabaseImage.containerfile(of: kind)
            #expect(file.hasPrefix("FROM docker.io/library/debian:bookworm-slim\n"), "\(file)")
            #expect(file.contains("apt-get install -y --no-install-recommends \(kind.debianPackage)"), "\(file)")
            // A new Docker volume takes the owner of the image's folder at its mount path.
            #expect(file.contains("chown \(user):\(user) \(kind.volumeMountPath)"), "\(file)")
            #expect(file.hasSuffix("USER \(user)\n"), "\(file)")
        }
        // The script makes its own cluster in the volume: none at install time.
        #expect(DatabaseImage.containerfile(of: .postgres).contains("create_main_cluster = false"))
    }

    @Test("names are per kind and stable, under yard-env (not collected with deployments' images)")
    func namesArePerKindAndStable() {
        let names = DatabaseKind.allCases.map(DatabaseImage.imageName(of:))
        #expect(Set(names).count == 3)
        #expect(names == DatabaseKind.allCases.map(DatabaseImage.imageName(of:)))
        #expect(names.allSatisfy { $0.hasPrefix("localhost/yard-env/database-") }, "\(names)")
    }
}
