import ArgumentParser
import Foundation
import YardClient
import YardCore

/// `yard export kubernetes`: the linked environment as the manifests a cluster would need.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an environment out for another platform.",
        subcommands: [ExportKubernetes.self]
    )
}

struct ExportKubernetes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubernetes",
        abstract: "Write the environment as Kubernetes manifests: Deployments, Services, Ingresses, PVCs, CronJobs, NetworkPolicies.",
        discussion: """
            Secrets are referenced by name, never written: the notes at the top say which Secret each \
            workload reads and which keys it needs, and which built images to push where. \
            See docs/kubernetes.md for what was and was not tried.
            """,
        aliases: ["k8s"])

    @OptionGroup var options: ClientOptions

    @Option(help: "Where the cluster pulls built images from (default registry.example.com/PROJECT).")
    var registry: String?

    @Option(name: .shortAndLong, help: "Write the manifests to this file instead of printing them.")
    var output: String?

    func run() async throws {
        try await reportingErrors {
            let (project, environment) = try options.projectScope()
            let export = try await options.client().kubernetesExport(project: project, environment: environment, registry: registry)
            if options.json { try Output.json(export); return }
            guard let output else {
                print(export.yaml, terminator: "")
                return
            }
            let url = URL(fileURLWithPath: output)
            do {
                try Data(export.yaml.utf8).write(to: url, options: .atomic)
            } catch {
                throw YardError(.invalidInput, "could not write \(output): \(error.localizedDescription)")
            }
            print("Wrote \(export.objects.count) objects for namespace \(export.namespace) to \(output):")
            for object in export.objects { print("  \(object.kind)/\(object.name)") }
            for note in export.notes.dropFirst(2) { print("note: \(note)") }
        }
    }
}
