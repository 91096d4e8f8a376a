import Foundation

/// The one error type the platform reports to users: a stable code, a message that says
/// what was wrong and what to do, and an optional underlying cause (never shown verbatim
/// when it could carry a secret).
public struct YardError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidInput = "invalid_input"
            case invalidConfig = "invalid_config"
            case notFound = "not_found"
            case conflict = "conflict"
            case unauthorized = "unauthorized"
            case buildFailed = "build_failed"
            case deployFailed = "deploy_failed"
            case unavailable = "unavailable"
            case tooLarge = "too_large"
            case `internal` = "internal"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let invalidInput = Code(.invalidInput)
        public static let invalidConfig = Code(.invalidConfig)
        public static let notFound = Code(.notFound)
        public static let conflict = Code(.conflict)
        public static let unauthorized = Code(.unauthorized)
        public static let buildFailed = Code(.buildFailed)
        public static let deployFailed = Code(.deployFailed)
        public static let unavailable = Code(.unavailable)
        /// A request body or an upload past a limit (HTTP 413).
        public static let tooLarge = Code(.tooLarge)
        public static let `internal` = Code(.internal)

        public var description: String { base.rawValue }

        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
