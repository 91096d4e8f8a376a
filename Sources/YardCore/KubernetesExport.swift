import Foundation

/// `yard export kubernetes`: one environment written as the manifests a Kubernetes cluster
/// would need to run it. Nothing here talks to a cluster; the manifests are checked offline
/// (`kubernetes-validate --strict` in the tests), and `docs/kubernetes.md` says what was and
/// was not tried. Secrets are referenced by name, never written: the notes say which Secret
/// each workload expects and which keys it reads.
public enum KubernetesExport {
    /// What the export needs to know about one service, read from the store by the caller.
    public struct Service: Sendable {
        public enum Kind: Sendable, Equatable {
            /// Built from uploads: runs `image` (the pushed build) with the plan's start command.
            case build
            /// `yard add --image`.
            case image
            case database(DatabaseKind)
        }

        public var name: String
        public var kind: Kind
        /// The image reference the cluster pulls.
        public var image: String
        /// Where that image is on this machine, when it has to be pushed first.
        public var localImage: String?
        public var settings: DeploySettings
        /// The port the app listens on (`PORT`); nil for a worker that opens none.
        public var port: Int?
        public var limits: ResourceLimits
        /// Mount paths of its volumes, by volume name.
        public var volumes: [(name: String, mountPath: String)]
        /// Custom domains: hostname, path prefix, target port.
        public var domains: [(hostname: String, pathPrefix: String, port: Int?)]
        /// Variable names (never values): they go in the Secret the workload reads.
        public var variableNames: [String]

        public init(
            name: String, kind: Kind, image: String, localImage: String? = nil, settings: DeploySettings, port: Int?,
            limits: ResourceLimits = .init(), volumes: [(name: String, mountPath: String)] = [],
            domains: [(hostname: String, pathPrefix: String, port: Int?)] = [], variableNames: [String] = []
        ) {
            self.name = name
            self.kind = kind
            self.image = image
            self.localImage = localImage
            self.settings = settings
            self.port = port
            self.limits = limits
            self.volumes = volumes
            self.domains = domains
            self.variableNames = variableNames
        }
    }

    public struct Options: Sendable {
        /// The namespace an ingress controller runs in: the only other namespace allowed in.
        public var ingressNamespace = "ingress-nginx"
        /// The size each volume's claim asks for (Switchyard's volumes have no size of their own).
        public var volumeSize = "1Gi"

        public init() {}
    }

    public struct Result: Sendable {
        public var namespace: String
        public var documents: [YAMLValue]
        /// What the operator must do besides `kubectl apply`: Secrets to create, images to push.
        public var notes: [String]

        /// The manifests as one YAML stream, notes as comments at the top.
        public var yaml: String { YAMLWriter.stream(documents, header: notes) }

        /// `kind/name` of every object, in order.
        public var objects: [(kind: String, name: String)] {
            documents.compactMap { document in
                guard case .string(let kind) = document["kind"], case .string(let name) = document["metadata"]?["name"] else { return nil }
                return (kind, name)
            }
        }
    }

    public static func manifests(project: String, environment: String, services: [Service], options: Options = .init()) -> Result {
        let namespace = dnsLabel("\(project)-\(environment)")
        var documents: [YAMLValue] = [
            .map([
                "apiVersion": .string("v1"), "kind": .string("Namespace"),
                "metadata": .map(["name": .string(namespace), "labels": labels(project: project, environment: environment)]),
            ]),
            isolation(namespace: namespace, ingressNamespace: options.ingressNamespace),
        ]
        var notes = [
            "Switchyard export of \(project)/\(environment) for Kubernetes (checked offline with kubernetes-validate; see docs/kubernetes.md).",
            "Apply: kubectl apply -f THIS_FILE, after creating the Secrets below in namespace \(namespace).",
        ]
        var used = Set<String>()
        for service in services.sorted(by: { $0.name < $1.name }) {
            var name = dnsLabel(service.name)
            while used.contains(name) { name = dnsLabel(name + "-x") }
            used.insert(name)
            let secret = "\(name)-variables"
            if !service.variableNames.isEmpty {
                notes.append(
                    "Secret \(secret): keys \(service.variableNames.sorted().joined(separator: ", ")) "
                        + "(values as `yard variables` shows them, with *.railway.internal hosts replaced by the Service names)")
            }
            if let local = service.localImage {
                notes.append("Image for \(name): skopeo copy containers-storage:\(local) docker://\(service.image)")
            }
            documents += workload(service, name: name, namespace: namespace, secret: service.variableNames.isEmpty ? nil : secret,
                                  options: options)
        }
        return Result(namespace: namespace, documents: documents, notes: notes)
    }

    // MARK: Objects

    /// Pods take traffic only from their own namespace and the ingress controller's: one
    /// environment cannot reach another, as on Switchyard.
    static func isolation(namespace: String, ingressNamespace: String) -> YAMLValue {
        .map([
            "apiVersion": .string("networking.k8s.io/v1"), "kind": .string("NetworkPolicy"),
            "metadata": .map(["name": .string("isolate-environment"), "namespace": .string(namespace)]),
            "spec": .map([
                "podSelector": .map([:]),
                "policyTypes": .list([.string("Ingress")]),
                "ingress": .list([
                    .map([
                        "from": .list([
                            .map(["podSelector": .map([:])]),
                            .map([
                                "namespaceSelector": .map([
                                    "matchLabels": .map(["kubernetes.io/metadata.name": .string(ingressNamespace)])
                                ])
                            ]),
                        ])
                    ])
                ]),
            ]),
        ])
    }

    static func workload(_ service: Service, name: String, namespace: String, secret: String?, options: Options) -> [YAMLValue] {
        let selector: YAMLValue = .map(["app.kubernetes.io/name": .string(name)])
        let metadata: YAMLValue = .map([
            "name": .string(name), "namespace": .string(namespace),
            "labels": .map(["app.kubernetes.io/name": .string(name), "app.kubernetes.io/managed-by": .string("switchyard")]),
        ])
        var documents: [YAMLValue] = []
        var claims: [YAMLEntry] = []
        for volume in service.volumes {
            let claim = dnsLabel("\(name)-\(volume.name)")
            claims.append(YAMLEntry(claim, .string(volume.mountPath)))
            documents.append(.map([
                "apiVersion": .string("v1"), "kind": .string("PersistentVolumeClaim"),
                "metadata": .map(["name": .string(claim), "namespace": .string(namespace)]),
                "spec": .map([
                    "accessModes": .list([.string("ReadWriteOnce")]),
                    "resources": .map(["requests": .map(["storage": .string(options.volumeSize)])]),
                ]),
            ]))
        }
        let container = self.container(service, name: name, secret: secret, claims: claims)
        var pod: [YAMLEntry] = [
            YAMLEntry("terminationGracePeriodSeconds", .int(max(service.settings.drainingSeconds, 1))),
            YAMLEntry("containers", .list([container])),
        ]
        if !claims.isEmpty {
            pod.append(YAMLEntry("volumes", .list(claims.map { claim in
                .map(["name": .string(claim.key), "persistentVolumeClaim": .map(["claimName": .string(claim.key)])])
            })))
        }
        if let schedule = service.settings.cronSchedule, case .build = service.kind {
            pod.insert(YAMLEntry("restartPolicy", .string("Never")), at: 0)
            documents.append(.map([
                "apiVersion": .string("batch/v1"), "kind": .string("CronJob"), "metadata": metadata,
                "spec": .map([
                    "schedule": .string(schedule),
                    // Railway skips a run while the previous one still runs.
                    "concurrencyPolicy": .string("Forbid"),
                    "jobTemplate": .map(["spec": .map([
                        "backoffLimit": .int(0),
                        "template": .map(["metadata": .map(["labels": selector]), "spec": .entries(pod)]),
                    ])]),
                ]),
            ]))
            return documents
        }
        // A volume is ReadWriteOnce: the old pod lets go before the new one mounts it.
        let strategy: YAMLValue =
            claims.isEmpty
            ? .map(["type": .string("RollingUpdate"), "rollingUpdate": .map(["maxSurge": .int(1), "maxUnavailable": .int(0)])])
            : .map(["type": .string("Recreate")])
        var spec: [YAMLEntry] = [
            YAMLEntry("replicas", .int(service.settings.numReplicas)),
            YAMLEntry("selector", .map(["matchLabels": selector])),
            YAMLEntry("strategy", strategy),
        ]
        if service.settings.overlapSeconds > 0 {
            // The new pod counts as available only after the overlap: the old one serves meanwhile.
            spec.append(YAMLEntry("minReadySeconds", .int(service.settings.overlapSeconds)))
        }
        spec.append(YAMLEntry("template", .map(["metadata": .map(["labels": selector]), "spec": .entries(pod)])))
        documents.append(.map([
            "apiVersion": .string("apps/v1"), "kind": .string("Deployment"), "metadata": metadata, "spec": .entries(spec),
        ]))
        guard let port = service.port else { return documents }
        documents.append(.map([
            "apiVersion": .string("v1"), "kind": .string("Service"), "metadata": metadata,
            "spec": .map([
                "selector": selector,
                "ports": .list([.map(["name": .string("main"), "port": .int(port), "targetPort": .int(port)])]),
            ]),
        ]))
        if !service.domains.isEmpty {
            let rules: [YAMLValue] = service.domains.map { domain in
                .map([
                    "host": .string(domain.hostname),
                    "http": .map(["paths": .list([.map([
                        "path": .string(domain.pathPrefix.isEmpty ? "/" : domain.pathPrefix),
                        "pathType": .string("Prefix"),
                        "backend": .map(["service": .map([
                            "name": .string(name), "port": .map(["number": .int(domain.port ?? port)]),
                        ])]),
                    ])])]),
                ])
            }
            documents.append(.map([
                "apiVersion": .string("networking.k8s.io/v1"), "kind": .string("Ingress"), "metadata": metadata,
                "spec": .map(["rules": .list(rules)]),
            ]))
        }
        return documents
    }

    static func container(_ service: Service, name: String, secret: String?, claims: [YAMLEntry]) -> YAMLValue {
        var container: [YAMLEntry] = [YAMLEntry("name", .string(name)), YAMLEntry("image", .string(service.image))]
        switch service.kind {
        case .database(.redis):
            container.append(YAMLEntry("args", .list(
                ["redis-server", "--requirepass", "$(REDISPASSWORD)", "--appendonly", "yes"].map(YAMLValue.string))))
        case .database:
            break
        case .build, .image:
            if let start = service.settings.startCommand {
                container.append(YAMLEntry("command", .list([.string("/bin/sh"), .string("-c"), .string(start)])))
            }
        }
        var environment: [YAMLValue] = []
        if let port = service.port, case .build = service.kind {
            environment.append(.map(["name": .string("PORT"), "value": .string(String(port))]))
        }
        if case .database(.postgres) = service.kind {
            // The claim's root holds lost+found, which initdb refuses.
            environment.append(.map(["name": .string("PGDATA"), "value": .string("/var/lib/postgresql/data/pgdata")]))
        }
        if !environment.isEmpty { container.append(YAMLEntry("env", .list(environment))) }
        if let secret {
            container.append(YAMLEntry("envFrom", .list([.map(["secretRef": .map(["name": .string(secret)])])])))
        }
        if let port = service.port {
            container.append(YAMLEntry("ports", .list([.map(["name": .string("main"), "containerPort": .int(port)])])))
            container += probes(service, port: port)
        }
        var limits: [YAMLEntry] = []
        if let cpus = service.limits.cpus { limits.append(YAMLEntry("cpu", .string("\(Int((cpus * 1000).rounded()))m"))) }
        if let memory = service.limits.memoryBytes { limits.append(YAMLEntry("memory", .string(String(memory)))) }
        if !limits.isEmpty { container.append(YAMLEntry("resources", .map(["limits": .entries(limits)]))) }
        if !claims.isEmpty {
            container.append(YAMLEntry("volumeMounts", .list(claims.map { claim in
                .map(["name": .string(claim.key), "mountPath": claim.value])
            })))
        }
        return .entries(container)
    }

    /// Switchyard's gate: a replica takes traffic once its health check answers (or, without
    /// one, once its port accepts), and has `healthcheckTimeout` seconds to get there.
    static func probes(_ service: Service, port: Int) -> [YAMLEntry] {
        let check: YAMLEntry =
            if let path = service.settings.healthcheckPath, case .build = service.kind {
                YAMLEntry("httpGet", .map(["path": .string(path), "port": .int(port)]))
            } else {
                YAMLEntry("tcpSocket", .map(["port": .int(port)]))
            }
        let period = 2
        return [
            YAMLEntry("startupProbe", .entries([
                check,
                YAMLEntry("periodSeconds", .int(period)),
                YAMLEntry("failureThreshold", .int(max(1, service.settings.healthcheckTimeout / period))),
            ])),
            YAMLEntry("readinessProbe", .entries([check, YAMLEntry("periodSeconds", .int(period))])),
        ]
    }

    static func labels(project: String, environment: String) -> YAMLValue {
        .map([
            "app.kubernetes.io/part-of": .string(dnsLabel(project)),
            "switchyard.dev/environment": .string(dnsLabel(environment)),
        ])
    }

    /// A name Kubernetes accepts (RFC 1123 label): lower-case letters, digits and dashes, at
    /// most 63, starting and ending with a letter or digit.
    public static func dnsLabel(_ text: String) -> String {
        var label = ""
        for character in text.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber) {
                label.append(character)
            } else if !label.hasSuffix("-") {
                label.append("-")
            }
        }
        label = String(label.prefix(63))
        while label.hasPrefix("-") { label.removeFirst() }
        while label.hasSuffix("-") { label.removeLast() }
        return label.isEmpty ? "service" : label
    }
}

/// `yard export kubernetes`'s answer.
public struct KubernetesExportView: Codable, Sendable, Hashable {
    public var namespace: String
    /// What to do besides `kubectl apply`: Secrets to create, images to push.
    public var notes: [String]
    public var objects: [KubernetesObjectView]
    /// Every manifest as one YAML stream, the notes as comments at its top.
    public var yaml: String

    public init(namespace: String, notes: [String], objects: [KubernetesObjectView], yaml: String) {
        self.namespace = namespace
        self.notes = notes
        self.objects = objects
        self.yaml = yaml
    }
}

public struct KubernetesObjectView: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String

    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }
}
