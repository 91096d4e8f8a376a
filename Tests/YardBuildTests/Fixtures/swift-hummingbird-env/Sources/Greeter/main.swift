import Foundation
import Hummingbird

let port = ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 8080
let router = Router()
router.get("/") { _, _ in "hi" }
try await Application(router: router, configuration: .init(address: .hostname("0.0.0.0", port: port))).runService()
