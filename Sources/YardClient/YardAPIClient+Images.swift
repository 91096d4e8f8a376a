import Foundation
import YardCore

extension YardAPIClient {
    /// Adds an image service and queues its first deployment (the pull).
    public func addImageService(project: String, environment: String, request: CreateImageServiceRequest) async throws -> ImageServiceView {
        try await call {
            try await $0.addImageService(
                path: .init(project: project, environment: environment), body: .json(request)
            ).created.body.json
        }
    }
}
