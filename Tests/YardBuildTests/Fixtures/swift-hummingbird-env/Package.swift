// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "greeter",
    products: [.executable(name: "Greeter", targets: ["Greeter"])],
    dependencies: [.package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0")],
    targets: [.executableTarget(name: "Greeter", dependencies: [.product(name: "Hummingbird", package: "hummingbird")])]
)
