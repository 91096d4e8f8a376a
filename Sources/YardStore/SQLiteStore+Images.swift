import Foundation
import GRDB
import YardCore

extension SQLiteStore {
    /// Creates an image service (`yard add --image`): `image` is the normalized reference;
    /// a registry login, when given, is stored with the password sealed.
    public func createImageService(
        projectID: String, name: String, image: String, registryLogin: (username: String, password: String)? = nil
    ) throws -> ServiceRecord {
        try ResourceName.validateService(name)
        return try write { db in
            var service = ServiceRecord(id: Identifier.make("svc"), projectID: projectID, name: name, configPath: nil, createdAt: Date())
            service.image = image
            service.registryUsername = registryLogin?.username
            try insertService(service, db)
            if let registryLogin {
                try storeRegistryPassword(registryLogin.password, serviceID: service.id, db)
            }
            return service
        }
    }

    /// Sets (or, with nil, removes) the registry login of an image service.
    public func setRegistryLogin(serviceID: String, _ login: (username: String, password: String)?) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE service SET registry_username = ?, registry_password = NULL WHERE id = ?",
                arguments: [login?.username, serviceID])
            if let login { try storeRegistryPassword(login.password, serviceID: serviceID, db) }
        }
    }

    /// The registry login of an image service in clear, only to write the pull's auth file;
    /// nil when it has none.
    public func registryLogin(serviceID: String) throws -> (username: String, password: String)? {
        let row = try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT registry_username, registry_password FROM service WHERE id = ?", arguments: [serviceID])
        }
        guard let row, let username = row["registry_username"] as String?, let sealed = row["registry_password"] as String?
        else { return nil }
        return (username, try cipher.open(sealed, for: .registryPassword(serviceID: serviceID)))
    }

    private func storeRegistryPassword(_ password: String, serviceID: String, _ db: Database) throws {
        let sealed = try cipher.seal(password, for: .registryPassword(serviceID: serviceID))
        try db.execute(sql: "UPDATE service SET registry_password = ? WHERE id = ?", arguments: [sealed, serviceID])
    }
}
