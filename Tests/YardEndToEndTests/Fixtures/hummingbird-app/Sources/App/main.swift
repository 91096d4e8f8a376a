// A Hummingbird 2 app for the end-to-end tests: binds 0.0.0.0:$PORT, answers / and /health.
// Hummingbird logs "Server started and listening on 0.0.0.0:<port>" once it accepts connections.
import Foundation
import Hummingbird

let port = ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 8080

let router = Router()
router.get("/") { _, _ -> String in
    "hummingbird-app ok"
}
router.get("/health") { _, _ -> String in
    "healthy"
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("0.0.0.0", port: port), serverName: "hummingbird-app")
)
try await app.runService()
