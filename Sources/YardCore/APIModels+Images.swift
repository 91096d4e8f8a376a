import Foundation

/// `yard add --image REF`: the image to run as a service, its name (the image's last name
/// part when nil), and a registry login for a private image. The password is stored sealed
/// and is never in an answer.
public struct CreateImageServiceRequest: Codable, Sendable, Hashable, CustomStringConvertible {
    public var image: String
    public var name: String?
    public var registryUsername: String?
    public var registryPassword: String?

    public init(image: String, name: String? = nil, registryUsername: String? = nil, registryPassword: String? = nil) {
        self.image = image
        self.name = name
        self.registryUsername = registryUsername
        self.registryPassword = registryPassword
    }

    public var description: String {
        "CreateImageServiceRequest(image: \(image), name: \(name ?? "nil"), registryUsername: \(registryUsername ?? "nil"), "
            + "registryPassword: \(registryPassword == nil ? "nil" : "<redacted>"))"
    }

    /// Both parts of a login, or neither.
    public func registryLogin() throws(YardError) -> (username: String, password: String)? {
        switch (registryUsername, registryPassword) {
        case (nil, nil): return nil
        case (let username?, let password?) where !username.isEmpty && !password.isEmpty: return (username, password)
        default:
            throw YardError(.invalidInput, "a registry login needs both a user name and a password "
                + "(--registry-username USER with --registry-password-stdin or YARD_REGISTRY_PASSWORD)")
        }
    }
}

/// The answer to `yard add --image`: the service and its first deployment (the pull).
public struct ImageServiceView: Codable, Sendable, Hashable {
    public var service: ServiceView
    public var deployment: DeploymentView

    public init(service: ServiceView, deployment: DeploymentView) {
        self.service = service
        self.deployment = deployment
    }
}
