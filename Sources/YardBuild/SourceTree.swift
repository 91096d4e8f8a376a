import Foundation
import YardCore

/// Read-only questions about an app's source directory, asked by provider detection.
struct SourceTree: Sendable {
    let root: URL

    init(root: URL) {
        self.root = root.standardizedFileURL
    }

    /// Names directly under the root, sorted so detection is deterministic.
    func entries() throws(YardError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        } catch {
            throw YardError(
                .buildFailed,
                "could not read the source directory \(root.path): check that the upload was extracted",
                cause: error
            )
        }
    }

    func isFile(_ relativePath: String) -> Bool {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url(relativePath).path, isDirectory: &isDirectory)
        return exists && !isDirectory.boolValue
    }

    func isDirectory(_ relativePath: String) -> Bool {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url(relativePath).path, isDirectory: &isDirectory)
        return exists && isDirectory.boolValue
    }

    func text(_ relativePath: String) throws(YardError) -> String {
        do {
            return try String(contentsOf: url(relativePath), encoding: .utf8)
        } catch {
            throw YardError(.buildFailed, "could not read \(relativePath) as UTF-8 text", cause: error)
        }
    }

    func data(_ relativePath: String) throws(YardError) -> Data {
        do {
            return try Data(contentsOf: url(relativePath))
        } catch {
            throw YardError(.buildFailed, "could not read \(relativePath)", cause: error)
        }
    }

    func url(_ relativePath: String) -> URL {
        relativePath == "." ? root : root.appendingPathComponent(relativePath)
    }

    /// Whether `relativePath` names something inside the root: not absolute, no `..`
    /// component, so a config value cannot point the build outside the upload.
    static func staysInside(_ relativePath: String) -> Bool {
        !relativePath.hasPrefix("/") && !relativePath.split(separator: "/").contains("..")
    }
}
