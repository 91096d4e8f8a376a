import YardCore

extension Orchestrator {
    /// Hands a replica's line to the OTLP exporter (nothing when export is off).
    func exportLine(deploymentID: String, replicaID: String, stream: LogLine.Stream, line: String) {
        let store = self.store
        metrics.telemetry.offer(deploymentID: deploymentID, replicaID: replicaID, stream: stream, message: line) {
            guard let deployment = try? store.deployment(id: deploymentID) else { return nil }
            return metricLabels(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
        }
    }
}
