import Foundation
import Testing
import YardCore
import YardRuntime

/// `yard export kubernetes`'s manifests, checked by kubernetes-validate (PyPI; its strict
/// mode refuses any field the API does not have) and read back by PyYAML.
@Suite("Kubernetes export")
struct KubernetesExportTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tools = packageRoot.appendingPathComponent(".build-tools/kubernetes/bin")

    /// Runs kubernetes-validate --strict on `yaml`; its output when it fails.
    static func validate(_ yaml: String) async throws -> String? {
        let validator = tools.appendingPathComponent("kubernetes-validate").path
        try #require(
            FileManager.default.isExecutableFile(atPath: validator),
            "kubernetes-validate is missing: run scripts/setup.sh (it installs it into .build-tools/kubernetes)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("yard-k8s-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await SystemCommand(validator, ["--strict", "--quiet", file.path]).result()
        return result.status == 0 ? nil : result.standardOutput + result.standardError
    }

    /// The documents as PyYAML reads them, as JSON.
    static func parsed(_ yaml: String) async throws -> [[String: Any]] {
        let script = "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"
        let result = try await SystemCommand(tools.appendingPathComponent("python").path, ["-c", script], input: yaml).result()
        try #require(result.status == 0, "PyYAML could not read the export: \(result.standardError)")
        return try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]])
    }

    static func settings(_ change: (inout DeploySettings) -> Void) -> DeploySettings {
        var settings = DeploySettings()
        change(&settings)
        return settings
    }

    /// One of each: a web app with a domain, health check, overlap and limits; a worker; a cron
    /// job; Postgres and Redis with volumes; an image service; a name Kubernetes would refuse.
    static let services: [KubernetesExport.Service] = [
        .init(
            name: "web", kind: .build, image: "registry.example.com/shop/web:abc", localImage: "localhost/yard/web:dep_abc",
            settings: settings {
                $0.startCommand = "gunicorn app:app --bind \"0.0.0.0:$PORT\" # serve"
                $0.healthcheckPath = "/health"
                $0.healthcheckTimeout = 60
                $0.numReplicas = 3
                $0.overlapSeconds = 20
                $0.drainingSeconds = 10
            },
            port: 8080, limits: .init(memoryBytes: 512 << 20, cpus: 0.5),
            domains: [("shop.example.com", "", nil), ("shop.example.com", "/api", 9000)],
            variableNames: ["DATABASE_URL", "SECRET_KEY"]),
        .init(name: "worker", kind: .build, image: "registry.example.com/shop/worker:abc", settings: settings { $0.startCommand = "python worker.py" },
              port: nil, variableNames: ["REDIS_URL"]),
        .init(name: "nightly", kind: .build, image: "registry.example.com/shop/nightly:abc",
              settings: settings { $0.cronSchedule = "0 3 * * *"; $0.startCommand = "python report.py" }, port: nil),
        .init(name: "Postgres", kind: .database(.postgres), image: "docker.io/library/postgres:15", settings: DeploySettings(), port: 5432,
              volumes: [("postgres-volume", DatabaseKind.postgres.volumeMountPath)], variableNames: ["PGPASSWORD", "POSTGRES_PASSWORD"]),
        .init(name: "Redis", kind: .database(.redis), image: "docker.io/library/redis:7.0", settings: DeploySettings(), port: 6379,
              volumes: [("redis-volume", "/data")], variableNames: ["REDISPASSWORD"]),
        .init(name: "Meili Search!", kind: .image, image: "docker.io/getmeili/meilisearch:v1.8", settings: DeploySettings(), port: 7700),
    ]

    @Test("an environment's manifests pass kubernetes-validate --strict and read back as written")
    func validates() async throws {
        let result = KubernetesExport.manifests(project: "Shop", environment: "production", services: Self.services)
        #expect(try await Self.validate(result.yaml) == nil)
        let documents = try await Self.parsed(result.yaml)
        let byKind = Dictionary(grouping: documents) { "\($0["kind"]!)/\(($0["metadata"] as! [String: Any])["name"]!)" }
        let names = Set(byKind.keys)
        #expect(names.isSuperset(of: [
            "Namespace/shop-production", "NetworkPolicy/isolate-environment",
            "Deployment/web", "Service/web", "Ingress/web", "Deployment/worker", "CronJob/nightly",
            "Deployment/postgres", "Service/postgres", "PersistentVolumeClaim/postgres-postgres-volume",
            "Deployment/redis", "PersistentVolumeClaim/redis-redis-volume", "Deployment/meili-search", "Service/meili-search",
        ]))
        #expect(!names.contains("Service/worker") && !names.contains("Secret/web-variables"), "\(names.sorted())")
        #expect(result.objects.count == documents.count)

        let web = try #require(byKind["Deployment/web"]?.first)
        let spec = try #require(web["spec"] as? [String: Any])
        #expect(spec["replicas"] as? Int == 3)
        #expect(spec["minReadySeconds"] as? Int == 20)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["terminationGracePeriodSeconds"] as? Int == 10)
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        // The start command survives quotes, a `#` and `:` exactly.
        #expect(container["command"] as? [String] == ["/bin/sh", "-c", "gunicorn app:app --bind \"0.0.0.0:$PORT\" # serve"])
        #expect(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/health")
        #expect((container["startupProbe"] as? [String: Any])?["failureThreshold"] as? Int == 30)
        #expect(((container["envFrom"] as? [[String: Any]])?.first?["secretRef"] as? [String: Any])?["name"] as? String == "web-variables")
        #expect(((container["resources"] as? [String: Any])?["limits"] as? [String: Any])?["cpu"] as? String == "500m")

        // A volume is ReadWriteOnce: its Deployment recreates rather than overlaps.
        let postgres = try #require(byKind["Deployment/postgres"]?.first?["spec"] as? [String: Any])
        #expect((postgres["strategy"] as? [String: Any])?["type"] as? String == "Recreate")
        #expect(result.notes.contains { $0.contains("Secret web-variables: keys DATABASE_URL, SECRET_KEY") })
        #expect(result.notes.contains { $0 == "Image for web: skopeo copy containers-storage:localhost/yard/web:dep_abc docker://registry.example.com/shop/web:abc" })
    }

    @Test("a field Kubernetes does not have fails the check: the validation is not a formality")
    func strictCatchesMistakes() async throws {
        let result = KubernetesExport.manifests(project: "shop", environment: "production", services: [Self.services[0]])
        let broken = result.yaml.replacingOccurrences(of: "minReadySeconds:", with: "minimumReadySeconds:")
        let problem = try #require(try await Self.validate(broken))
        #expect(problem.contains("minimumReadySeconds"))
    }

    @Test("YAML strings that would read back as something else are quoted")
    func quoting() async throws {
        let awkward = ["on", "08", "null", "- a", "key: value", "#x", "tab\there", "line\nbreak", "quote\"s\\", "émoji 🚀", "\u{7}bell"]
        let document = YAMLValue.entries(awkward.enumerated().map { YAMLEntry("k\($0.offset)", .string($0.element)) }
            + [YAMLEntry("weird key: #", .list([.string("x"), .entries([YAMLEntry("a", .int(1))])]))])
        let read = try #require(try await Self.parsed(YAMLWriter.stream([document])).first)
        for (index, text) in awkward.enumerated() {
            #expect(read["k\(index)"] as? String == text)
        }
        #expect((read["weird key: #"] as? [Any])?.count == 2)
    }

    @Test("names become RFC 1123 labels")
    func labels() {
        #expect(KubernetesExport.dnsLabel("Meili Search!") == "meili-search")
        #expect(KubernetesExport.dnsLabel("--API__v2--") == "api-v2")
        #expect(KubernetesExport.dnsLabel(String(repeating: "a", count: 80)).count == 63)
        #expect(KubernetesExport.dnsLabel("***") == "service")
    }
}
