// swift-tools-version:5.9
import PackageDescription

let package = Package(name: "app", targets: [.executableTarget(name: "App")])
