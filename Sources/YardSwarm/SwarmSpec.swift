import Foundation

// The parts of the Docker Engine API's swarm objects Switchyard writes and reads (API 1.41).
// Field names are the engine's own (PascalCase); durations are nanoseconds.

/// `POST /services/create` and `/services/{id}/update`.
struct SwarmServiceSpec: Codable, Sendable {
    var Name: String
    var Labels: [String: String]
    var TaskTemplate: TaskSpec
    var Mode: ServiceMode
    /// Nil for a job (it is never updated).
    var UpdateConfig: UpdateConfig?
    var EndpointSpec: EndpointSpec

    struct TaskSpec: Codable, Sendable {
        var ContainerSpec: ContainerSpec
        var RestartPolicy: RestartPolicy
        var Resources: Resources
        var Networks: [NetworkAttachment]?
        var Placement: Placement?
    }

    struct Placement: Codable, Sendable {
        /// `node.role==manager`: an image loaded into the manager's engine only runs there.
        var Constraints: [String]?
    }

    struct ContainerSpec: Codable, Sendable {
        var Image: String
        var Labels: [String: String]
        var Command: [String]
        var Env: [String]
        var Dir: String?
        var Hostname: String
        var StopGracePeriod: Int64
        var Secrets: [SecretReference]?
        var Init: Bool?
        /// The service's volume (`SwarmRuntime+Volumes.swift`).
        var Mounts: [Mount]?
        /// Overrides the image's user (only the job that empties a deleted volume: root).
        var User: String? = nil
        /// A database's readiness check: its task is `running` only once it passes.
        var HealthCheck: HealthConfig?
    }

    /// Docker's health check: `Test` is `["CMD-SHELL", script]`; durations in nanoseconds.
    struct HealthConfig: Codable, Sendable {
        var Test: [String]
        var Interval: Int64
        var Timeout: Int64
        var Retries: Int
        /// Failures in this time after the start do not count (a first initdb).
        var StartPeriod: Int64
    }

    /// A named Docker volume on the task's node.
    struct Mount: Codable, Sendable {
        struct VolumeOptions: Codable, Sendable { var Labels: [String: String] }
        /// `volume`.
        var `Type`: String
        var Source: String
        var Target: String
        var VolumeOptions: VolumeOptions?
    }

    struct SecretReference: Codable, Sendable {
        struct File: Codable, Sendable {
            var Name: String
            var UID: String
            var GID: String
            var Mode: UInt32
        }
        var File: File
        var SecretID: String
        var SecretName: String
    }

    struct RestartPolicy: Codable, Sendable {
        /// `none`, `on-failure`, `any`.
        var Condition: String
        var Delay: Int64
        var MaxAttempts: UInt64
    }

    struct Resources: Codable, Sendable {
        struct Limits: Codable, Sendable {
            var NanoCPUs: Int64?
            var MemoryBytes: Int64?
            var Pids: Int64?
        }
        var Limits: Limits
    }

    struct NetworkAttachment: Codable, Sendable {
        var Target: String
        var Aliases: [String]
    }

    struct ServiceMode: Codable, Sendable {
        struct Replicated: Codable, Sendable { var Replicas: UInt64 }
        /// A one-shot run (API 1.41): its tasks run to completion and are not restarted.
        struct ReplicatedJob: Codable, Sendable {
            var MaxConcurrent: UInt64
            var TotalCompletions: UInt64
        }
        var Replicated: Replicated?
        var ReplicatedJob: ReplicatedJob?
    }

    struct UpdateConfig: Codable, Sendable {
        var Parallelism: UInt64
        /// `start-first`: a task's replacement runs before it is stopped.
        var Order: String
    }

    struct EndpointSpec: Codable, Sendable {
        struct Port: Codable, Sendable {
            var `Protocol`: String
            var TargetPort: Int
            /// 0: a free port of the node the task runs on.
            var PublishedPort: Int
            /// `host`: published on the node that runs the task (no IPVS here for `ingress`).
            var PublishMode: String
        }
        /// `dnsrr`: no virtual IP (the kernel here has no IPVS).
        var Mode: String
        var Ports: [Port]
    }
}

/// `GET /tasks`: one run of a service's container on a node.
struct SwarmTask: Decodable, Sendable {
    struct Status: Decodable, Sendable {
        struct ContainerStatus: Decodable, Sendable {
            var ContainerID: String?
            var PID: Int32?
            var ExitCode: Int32?
        }
        var Timestamp: String?
        /// `new` … `running`, then `complete`, `failed`, `shutdown`, `rejected`, `orphaned`, `remove`.
        var State: String
        var Message: String?
        var Err: String?
        var ContainerStatus: ContainerStatus?
        var PortStatus: PortStatus?
    }
    struct PortStatus: Decodable, Sendable {
        struct Port: Decodable, Sendable {
            var TargetPort: Int?
            var PublishedPort: Int?
        }
        var Ports: [Port]?
    }
    var ID: String
    var ServiceID: String
    var NodeID: String?
    var Slot: Int?
    var Status: Status
    var DesiredState: String
    var CreatedAt: String?
    /// The task's addresses on its networks (`10.201.129.4/24`).
    var NetworksAttachments: [NetworkAttachmentStatus]?

    struct NetworkAttachmentStatus: Decodable, Sendable {
        var Addresses: [String]?
    }

    /// The task ended (it will not run again).
    var isFinished: Bool {
        ["complete", "failed", "shutdown", "rejected", "orphaned", "remove"].contains(self.Status.State)
    }
}

/// `POST /secrets/create`.
struct SwarmSecretSpec: Codable, Sendable {
    var Name: String
    var Labels: [String: String]
    /// Base64.
    var Data: String
}

/// `POST /networks/create`.
struct SwarmNetworkSpec: Codable, Sendable {
    var Name: String
    var Driver: String
    var Attachable: Bool
    var Internal: Bool
    var CheckDuplicate: Bool
    var Labels: [String: String]
}

/// `{"ID": …}`, what the create calls answer.
struct CreatedObject: Decodable, Sendable {
    var ID: String?
    var Id: String?

    var id: String { ID ?? Id ?? "" }
}

/// Any listed object's id and labels (`/services`, `/secrets`, `/networks`).
struct LabeledObject: Decodable, Sendable {
    struct Spec: Decodable, Sendable { var Labels: [String: String]? }
    var ID: String?
    var Id: String?
    var Name: String?
    var Labels: [String: String]?
    var Spec: Spec?

    var id: String { ID ?? Id ?? "" }
}
