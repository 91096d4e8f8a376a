import Foundation

/// Replaces every occurrence of secret values in a text with `***`, so a build step that
/// prints a secret cannot put it in a log.
public struct SecretMasker: Sendable {
    /// Values shorter than this are not masked: masking "1" would rewrite every digit.
    public static let minimumLength = 3

    /// The values to mask, longest first, so a secret containing another is masked whole.
    private let values: [String]

    public init(_ secrets: some Sequence<String>) {
        var values = Set<String>()
        for secret in secrets where secret.count >= Self.minimumLength {
            values.insert(secret)
            // Logs arrive a line at a time: each line of a multi-line secret on its own.
            for line in secret.split(whereSeparator: \.isNewline) where line.count >= Self.minimumLength {
                values.insert(String(line))
            }
        }
        self.values = values.sorted { $0.count > $1.count }
    }

    public var isEmpty: Bool { values.isEmpty }

    public func mask(_ text: String) -> String {
        var result = text
        for value in values where result.contains(value) {
            result = result.replacingOccurrences(of: value, with: "***")
        }
        return result
    }
}
