// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "switchyard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "yard", targets: ["yard"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // HTTP/2 at the router's HTTPS edge (ALPN h2); the route table's lock-free snapshot.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The API's generated server stubs and client (openapi/openapi.yaml, scripts/generate-openapi.sh).
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // `/metrics` in Prometheus text format (`yard serve --metrics-address`).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The web dashboard's server-rendered pages (YardDashboard).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // The optional OTLP/HTTP exporter (`yard serve --otlp-endpoint`): only its HTTP trait,
        // so gRPC is not built; the router's `traceparent` parsing and ids.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "YardCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardConfig",
            dependencies: ["YardCore", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardStore",
            dependencies: [
                "YardCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardRuntime",
            dependencies: [
                "YardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            // The bubblewrap runtime: private networks, hosts files, boxes (`SandboxRuntime`).
            name: "YardSandbox",
            dependencies: ["YardCore", "YardRuntime", "YardImage", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            // OCI images: the store (buildah, podman, skopeo), Dockerfile builds, pulls and
            // imports, per-replica instance layers.
            name: "YardImage",
            dependencies: ["YardCore", "YardRuntime", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            // Replicas as Docker Swarm services through the Docker Engine API (`SwarmRuntime`).
            name: "YardSwarm",
            dependencies: [
                "YardCore", "YardRuntime", "YardImage", "YardClient", "YardRouter", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardBuild",
            dependencies: [
                "YardCore", "YardConfig", "YardRuntime", "YardImage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        // epoll, eventfd and accept4 for the router's own event loop (`EpollEventLoop`).
        .target(name: "CEpoll"),
        .target(
            name: "YardRouter",
            dependencies: [
                "YardCore",
                "CEpoll",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            // The OTLP exporter: spans from the access log, the collector's series, app logs.
            name: "YardTelemetry",
            dependencies: [
                "YardCore", "YardControl", "YardRouter",
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardControl",
            dependencies: [
                "YardCore", "YardConfig", "YardStore", "YardBuild", "YardRuntime", "YardRouter", "YardImage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The alert engine's SMTP client (STARTTLS).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardAPI",
            dependencies: [
                "YardCore", "YardControl", "YardStore", "YardBuild", "YardRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            // The web dashboard under `/` of the API's port: sessions, pages, its CSS and JS.
            name: "YardDashboard",
            dependencies: [
                "YardCore", "YardAPI", "YardControl", "YardStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardServer",
            dependencies: [
                "YardCore", "YardAPI", "YardControl", "YardSandbox", "YardRouter", "YardRuntime", "YardStore", "YardImage",
                "YardSwarm", "YardDashboard", "YardTelemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardClient",
            dependencies: [
                "YardCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "YardCLI",
            dependencies: [
                "YardCore", "YardClient", "YardConfig", "YardControl", "YardAPI", "YardBuild", "YardSandbox", "YardRuntime", "YardImage",
                "YardServer", "YardRouter", "YardSwarm",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "yard",
            dependencies: ["YardCLI"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SandboxStartBench",
            dependencies: ["YardCore", "YardRuntime", "YardSandbox", .product(name: "Logging", package: "swift-log")],
            path: "bench/SandboxStartBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ImageStartBench",
            dependencies: ["YardCore", "YardRuntime", "YardSandbox", "YardImage", "YardTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "bench/ImageStartBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DashboardBench",
            dependencies: [
                "YardDashboard", "YardDashboardTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/DashboardBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProxyBench",
            dependencies: [
                "YardRouter",
                "CEpoll",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "bench/ProxyBench",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "YardCoreTests", dependencies: ["YardCore"], swiftSettings: swiftSettings),
        .testTarget(name: "YardConfigTests", dependencies: ["YardConfig"], swiftSettings: swiftSettings),
        .testTarget(
            name: "YardStoreTests",
            // Raw SQL in the tests writes rows as older versions did and replays old migration orders.
            dependencies: ["YardStore", "YardCore", "YardRuntime", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // DatabaseScriptTests runs YardControl's database start scripts for real.
        .testTarget(name: "YardRuntimeTests", dependencies: ["YardRuntime", "YardSandbox", "YardControl"], swiftSettings: swiftSettings),
        .testTarget(
            name: "YardSandboxTests", dependencies: ["YardSandbox", "YardRuntime", "YardImage", "YardTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            // A real dockerd (scripts/test-dockerd.sh) made a one-node swarm.
            name: "YardSwarmTests", dependencies: ["YardSwarm", "YardClient", "YardImage", "YardRuntime", "YardTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "YardImageTests", dependencies: ["YardImage", "YardTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "YardBuildTests", dependencies: ["YardBuild"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(
            name: "YardTelemetryTests", dependencies: ["YardTelemetry", "YardControl", "YardCore", "YardRouter"],
            swiftSettings: swiftSettings),
        .testTarget(name: "YardControlTests", dependencies: ["YardControl", "YardCore", "YardRouter"], swiftSettings: swiftSettings),
        .target(
            // A fake `ReplicaRuntime` and a temporary store, for tests of the core without root.
            name: "YardTestSupport",
            dependencies: ["YardCore", "YardRuntime", "YardStore", "YardImage"],
            path: "Tests/YardTestSupport",
            swiftSettings: swiftSettings
        ),
        .target(
            // The dashboard on a seeded store, for its tests and DashboardBench.
            name: "YardDashboardTestSupport",
            dependencies: [
                "YardAPI", "YardControl", "YardCore", "YardDashboard", "YardRouter", "YardStore", "YardTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/YardDashboardTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardOrchestratorTests",
            dependencies: [
                "YardControl", "YardCore", "YardRouter", "YardRuntime", "YardStore", "YardTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardServerTests",
            dependencies: ["YardServer", "YardControl", "YardCore", "YardRouter", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardAPITests",
            dependencies: [
                "YardAPI", "YardCore", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardDashboardTests",
            dependencies: [
                "YardDashboard", "YardAPI", "YardControl", "YardCore", "YardStore", "YardRouter", "YardTestSupport",
                "YardDashboardTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardRouterTests",
            dependencies: [
                "YardRouter", "YardRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // A real WebSocket server stands in for a replica in the upgrade tests.
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // An HTTP/2 client of our own sends a rapid-reset attack and reads the settings.
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "YardEndToEndTests",
            dependencies: [
                "YardClient", "YardCore",
                // Image services: a local docker-registry and images built for it.
                "YardTestSupport", "YardImage",
                // A raw WebSocket client holds a connection open across deploys.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
