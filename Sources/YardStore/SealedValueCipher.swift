import Crypto
import Foundation
import YardCore

/// Encrypts what must not be readable in `switchyard.sqlite` (sealed values, build secrets,
/// the variables each deployment ran with) with AES-256-GCM under a key kept apart from the
/// database, in `<data>/keys/sealed.key` (32 random bytes, mode 0600, generated on first start).
///
/// A stored value is `yse2:` and the base64 of nonce, ciphertext and tag, sealed with the
/// row it belongs to as associated data (`SealedBinding`): a value copied into another row
/// (another project's variable, another deployment) does not open there. `yse1:` values
/// (before issue 13, not bound) are opened only by migration `018_sealed_values_bound`,
/// which seals them again bound to their row.
public struct SealedValueCipher: Sendable {
    static let prefix = "yse2:"
    static let unboundPrefix = "yse1:"
    /// Sealed with the key at first start and opened at every start: a wrong key is found
    /// before any value is needed.
    static let checkValue = "switchyard sealed key check"

    /// The raw key (`SymmetricKey` is not `Sendable`; one is made per use).
    private let keyBytes: Data
    /// Where the key lives, for error messages.
    public let keyFile: URL

    init(keyBytes: Data, keyFile: URL) {
        self.keyBytes = keyBytes
        self.keyFile = keyFile
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// Whether `stored` is in a sealed format (anything else is a clear value from before
    /// values were sealed at rest).
    public static func isSealed(_ stored: String) -> Bool {
        stored.hasPrefix(prefix) || stored.hasPrefix(unboundPrefix)
    }

    /// Seals `value` for the row `binding` names.
    public func seal(_ value: String, for binding: SealedBinding) throws -> String {
        let box = try AES.GCM.seal(Data(value.utf8), using: key, authenticating: Data(binding.associatedData.utf8))
        guard let combined = box.combined else {
            throw YardError(.internal, "AES-GCM produced no combined box")
        }
        return Self.prefix + combined.base64EncodedString()
    }

    /// The clear value of a value sealed for `binding`. A value sealed for another row, an
    /// unbound (`yse1:`) one or an altered one does not open. Never puts the value in an error.
    public func open(_ stored: String, for binding: SealedBinding) throws -> String {
        guard stored.hasPrefix(Self.prefix), let data = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))) else {
            throw YardError(
                .internal,
                "a stored sealed value of \(binding.kind) is not in the bound sealed format (\(Self.prefix)…): it was not sealed for this row")
        }
        do {
            let clear = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Data(binding.associatedData.utf8))
            return String(decoding: clear, as: UTF8.self)
        } catch {
            throw YardError(
                .internal,
                "a sealed value of \(binding.kind) does not open with \(keyFile.path): the key is not the one it was sealed with, "
                    + "or the value was altered or moved from another row")
        }
    }

    /// Seals without a binding, in the `yse1:` format: only for migrations written before
    /// values were bound (014, 016), whose rows 018 then binds.
    func sealUnbound(_ value: String) throws -> String {
        let box = try AES.GCM.seal(Data(value.utf8), using: key)
        guard let combined = box.combined else { throw YardError(.internal, "AES-GCM produced no combined box") }
        return Self.unboundPrefix + combined.base64EncodedString()
    }

    /// Opens a `yse1:` value: only for migration 018, which seals it again bound to its row.
    func openUnbound(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.unboundPrefix),
            let data = Data(base64Encoded: String(stored.dropFirst(Self.unboundPrefix.count)))
        else {
            throw YardError(.internal, "a stored sealed value is not in the unbound sealed format (\(Self.unboundPrefix)…)")
        }
        do {
            return String(decoding: try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key), as: UTF8.self)
        } catch {
            throw YardError(
                .internal,
                "a sealed value does not open with \(keyFile.path): the key is not the one it was sealed with, or the value was altered")
        }
    }

    /// Reads the key of a data directory, or creates it (directory 0700, file 0600) when
    /// `mustExist` is false. `mustExist`: the database already holds values sealed with a
    /// key, so a new one would lose them; its absence is an error naming the file.
    public static func load(directory: URL, mustExist: Bool) throws -> SealedValueCipher {
        let folder = directory.appendingPathComponent("keys")
        let file = folder.appendingPathComponent("sealed.key")
        let manager = FileManager.default
        if !manager.fileExists(atPath: file.path) {
            guard !mustExist else {
                throw YardError(
                    .unavailable,
                    "\(file.path) is missing, and the sealed variables in \(directory.appendingPathComponent("switchyard.sqlite").path) "
                        + "were encrypted with it: restore that file from a backup of the data directory (a new key cannot open them)")
            }
            try manager.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder.path)
            let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            // Written under another name and renamed, so a crash never leaves half a key.
            let partial = folder.appendingPathComponent("sealed.key.partial")
            try? manager.removeItem(at: partial)
            guard manager.createFile(atPath: partial.path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
                throw YardError(.unavailable, "could not write \(partial.path)")
            }
            try manager.moveItem(at: partial, to: file)
        }
        let attributes = try manager.attributesOfItem(atPath: file.path)
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw YardError(
                .unavailable,
                "\(file.path) can be read by other users (mode \(String(mode, radix: 8))): `chmod 600 \(file.path)`, then start again")
        }
        guard let bytes = manager.contents(atPath: file.path) else {
            throw YardError(.unavailable, "\(file.path) cannot be read")
        }
        guard bytes.count == 32 else {
            throw YardError(
                .unavailable,
                "\(file.path) holds \(bytes.count) bytes, not the 32 of an AES-256 key: restore the key this data directory was created with"
            )
        }
        return SealedValueCipher(keyBytes: bytes, keyFile: file)
    }
}

/// The row a sealed value belongs to: its table and key columns, authenticated with the
/// value (AES-GCM associated data), so the value opens only in that row.
public struct SealedBinding: Sendable, Equatable {
    /// The table, for messages.
    public let kind: String
    let associatedData: String

    private init(_ kind: String, _ parts: [String]) {
        self.kind = kind
        // NUL cannot occur in ids or keys, so the parts cannot be shifted into one another.
        self.associatedData = ([kind] + parts).joined(separator: "\0")
    }

    public static func variable(serviceID: String, environmentID: String, key: String) -> Self {
        Self("variable", [serviceID, environmentID, key])
    }

    public static func sharedVariable(environmentID: String, key: String) -> Self {
        Self("shared_variable", [environmentID, key])
    }

    public static func deploymentVariables(deploymentID: String) -> Self {
        Self("deployment.variables", [deploymentID])
    }

    public static func webhookSecret(projectID: String) -> Self {
        Self("webhook_secret", [projectID])
    }

    public static func registryPassword(serviceID: String) -> Self {
        Self("service.registry_password", [serviceID])
    }

    public static func alertChannel(channelID: String, field: String) -> Self {
        Self("alert_channel.\(field)", [channelID])
    }

    public static func logDrainURL(drainID: String) -> Self {
        Self("log_drain.url", [drainID])
    }

    static let keyCheck = Self("sealed_key_check", ["1"])
}
