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

    /// The file's text, or nil when it is missing or not UTF-8: for optional hints
    /// (a settings module, a vite config) where absence is not an error.
    func optionalText(_ relativePath: String) -> String? {
        guard isFile(relativePath) else { return nil }
        return try? String(contentsOf: url(relativePath), encoding: .utf8)
    }

    /// Names directly inside `relativePath` (a folder), sorted; empty when it is not one.
    func entries(in relativePath: String) -> [String] {
        guard isDirectory(relativePath) else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: url(relativePath).path)) ?? []).sorted()
    }

    /// Paths of files under `relativePath` whose names end in `suffix`, depth first and
    /// sorted, skipping hidden and dependency folders; stops after `limit` so detection
    /// stays fast on large trees.
    func files(under relativePath: String, suffix: String, limit: Int = 200) -> [String] {
        var found: [String] = []
        var pending = [relativePath]
        while let directory = pending.popLast(), found.count < limit {
            for name in entries(in: directory).reversed() {
                guard !name.hasPrefix("."), !Self.skippedFolders.contains(name) else { continue }
                let path = directory == "." ? name : "\(directory)/\(name)"
                if isDirectory(path) {
                    pending.append(path)
                } else if name.hasSuffix(suffix) {
                    found.append(path)
                }
            }
        }
        return found.sorted()
    }

    private static let skippedFolders: Set<String> = ["node_modules", "vendor", "target", "build", "dist", "__pycache__"]

    func url(_ relativePath: String) -> URL {
        relativePath == "." ? root : root.appendingPathComponent(relativePath)
    }

    /// Whether `relativePath` names something inside the root: not absolute, no `..`
    /// component, so a config value cannot point the build outside the upload.
    static func staysInside(_ relativePath: String) -> Bool {
        !relativePath.hasPrefix("/") && !relativePath.split(separator: "/").contains("..")
    }
}
