// swift-tools-version:6.1
// A holder package: it exists only so `scripts/generate-openapi.sh` can build and run
// swift-openapi-generator at the pinned version in its own scratch path (.build-openapi).
import PackageDescription

let package = Package(
    name: "openapi-generator-runner",
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator.git", exact: "1.14.3")
    ],
    targets: []
)
