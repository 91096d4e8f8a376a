import Foundation
import Testing
import YardCore
import YardStore

@Suite("image services in the store")
struct ImageServiceStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-image-svc-\(UUID().uuidString)")

    @Test("the image is a service column; the registry password is sealed, opens only for its service, and is never in the record")
    func registryLoginSealed() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let password = "registry-\(UUID().uuidString)"
        let serviceID: String
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, _) = try store.createProject(name: "shop")
            let service = try store.createImageService(
                projectID: project.id, name: "cache", image: "docker.io/library/redis:7", registryLogin: ("deployer", password))
            serviceID = service.id
            let read = try store.service(id: service.id)
            #expect(read.image == "docker.io/library/redis:7")
            #expect(read.registryUsername == "deployer")
            #expect(!"\(read)".contains(password))
            // Updating other settings keeps the login.
            var changed = read
            changed.egress = true
            try store.updateService(changed)
            #expect(try store.registryLogin(serviceID: service.id)?.password == password)
            let plain = try store.createService(projectID: project.id, name: "web")
            #expect(try store.service(id: plain.id).image == nil)
            #expect(try store.registryLogin(serviceID: plain.id) == nil)
        }
        // On disk only sealed; after a reopen it opens again.
        let bytes = ["switchyard.sqlite", "switchyard.sqlite-wal"].reduce(into: Data()) { bytes, name in
            bytes += FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data()
        }
        #expect(bytes.range(of: Data(password.utf8)) == nil)
        let store = try SQLiteStore(directory: directory)
        let login = try #require(try store.registryLogin(serviceID: serviceID))
        #expect(login.username == "deployer" && login.password == password)
        try store.setRegistryLogin(serviceID: serviceID, nil)
        #expect(try store.registryLogin(serviceID: serviceID) == nil)
        #expect(try store.service(id: serviceID).registryUsername == nil)
    }
}
