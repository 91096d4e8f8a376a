import Foundation
import YardCore

/// The service page's metrics and backups, through the `/v1` operations.
extension DashboardBackend {
    /// The last hour's points (`GET …/metrics`), oldest first.
    public func metrics(project: String, environment: String, service: String) async throws -> MetricsSeriesView {
        try await routes.getServiceMetrics(.init(path: .init(project: project, environment: environment, service: service), query: .init()))
            .ok.body.json
    }

    public func backups(project: String, environment: String, service: String) async throws -> BackupListView {
        try await routes.listBackups(.init(path: .init(project: project, environment: environment, service: service))).ok.body.json
    }

    public func createBackup(project: String, environment: String, service: String) async throws -> BackupView {
        try await routes.createBackup(.init(path: .init(project: project, environment: environment, service: service))).created.body.json
    }

    /// Restores `backup` into the service itself.
    public func restoreBackup(project: String, environment: String, service: String, backup: String) async throws -> BackupRestoreView {
        try await routes.restoreBackup(
            .init(
                path: .init(project: project, environment: environment, service: service),
                body: .json(BackupRestoreRequest(backup: backup, to: nil, into: nil)))
        ).ok.body.json
    }
}
