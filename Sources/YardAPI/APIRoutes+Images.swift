import Foundation
import YardControl
import YardCore
import YardStore

/// Image services: `yard add --image` and the registry login in the service's settings.
extension APIRoutes {
    func addImageService(_ input: Operations.AddImageService.Input) async throws -> Operations.AddImageService.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (project, environment) = try scope(input.path.project, input.path.environment)
        let (service, deployment) = try await orchestrator.addImageService(
            projectID: project.id, environmentID: environment.id, image: body.image, name: body.name,
            registryLogin: try body.registryLogin())
        return .created(.init(body: .json(
            ImageServiceView(service: Self.serviceView(service), deployment: try await deploymentView(deployment)))))
    }

    /// `registryUsername` "" removes the login; otherwise both parts are needed, and only an
    /// image service has one.
    func changeRegistryLogin(of service: ServiceRecord, _ change: ServiceSettingsChange) throws -> ServiceRecord {
        guard service.image != nil else {
            throw YardError(.invalidInput, "\(service.name) is not an image service: a registry login applies only to `yard add --image` services")
        }
        if change.registryUsername == "" {
            try store.setRegistryLogin(serviceID: service.id, nil)
        } else {
            let login = try CreateImageServiceRequest(
                image: "", registryUsername: change.registryUsername, registryPassword: change.registryPassword
            ).registryLogin()
            try store.setRegistryLogin(serviceID: service.id, login)
        }
        return try store.service(id: service.id)
    }
}
