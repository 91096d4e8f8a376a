import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Paths taken from an upload (a root directory, a config file, a services map entry),
/// resolved the way the kernel would follow them but confined to the upload: every
/// symlink on the way is read and followed inside the upload, and a path or a link that
/// leaves it (`..` above the top, an absolute target) is refused. What comes back names no
/// symlink, so it can be handed to bwrap or moved without taking a link along.
public enum UploadPath {
    /// Links followed while resolving one path before it counts as a loop (the kernel's 40).
    static let maximumLinks = 40

    /// Why a path was refused; `description` names the path, never a file's content.
    public struct Escape: Error, Sendable, CustomStringConvertible, Equatable {
        /// The path asked for, relative to the upload.
        public var path: String
        /// The link that led out, relative to the upload, and its target (nil when `..`
        /// in the path itself climbed above the top).
        public var link: String?
        public var target: String?
        public var isLoop = false

        public var description: String {
            if isLoop { return "'\(path)' follows too many symlinks (a loop?)" }
            if let link, let target {
                return "'\(path)' leads outside the upload through the symlink '\(link)' -> '\(target)'"
            }
            return "'\(path)' leads outside the upload"
        }
    }

    /// The real location of `relative` inside `root` (which must itself be a real
    /// directory, not a link), or `Escape` when following it leaves `root`. Missing
    /// components are allowed: they resolve lexically, as the kernel would create them.
    public static func resolve(_ relative: String, in root: URL) throws(Escape) -> URL {
        let stack = try resolvedComponents(relative, in: root.standardizedFileURL.path)
        return stack.reduce(root.standardizedFileURL) { $0.appendingPathComponent($1) }
    }

    /// `resolve`, as the path relative to `root` ("." for the root itself).
    public static func resolvedRelative(_ relative: String, in root: URL) throws(Escape) -> String {
        let stack = try resolvedComponents(relative, in: root.standardizedFileURL.path)
        return stack.isEmpty ? "." : stack.joined(separator: "/")
    }

    private static func resolvedComponents(_ relative: String, in root: String) throws(Escape) -> [String] {
        var stack: [String] = []
        var links = 0
        // The last link followed: a `..` that then climbs above the top is its fault.
        var lastLink: (path: String, target: String)?
        // Components still to walk, first one last.
        var pending = Array(relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed())
        if relative.hasPrefix("/") { throw Escape(path: relative) }
        while let name = pending.popLast() {
            switch name {
            case ".": continue
            case "..":
                guard stack.popLast() != nil else {
                    throw Escape(path: relative, link: lastLink?.path, target: lastLink?.target)
                }
                continue
            default: break
            }
            let here = root + "/" + (stack + [name]).joined(separator: "/")
            guard let target = linkTarget(here) else {
                stack.append(name)
                continue
            }
            links += 1
            guard links <= maximumLinks else { throw Escape(path: relative, isLoop: true) }
            let linkPath = (stack + [name]).joined(separator: "/")
            guard !target.hasPrefix("/") else { throw Escape(path: relative, link: linkPath, target: target) }
            // The target replaces the link, relative to the link's folder (the stack as it is).
            pending += target.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed()
            lastLink = (linkPath, target)
        }
        return stack
    }

    /// The target of the symlink at `path`, nil when it is not one (or does not exist).
    static func linkTarget(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every symlink under `root` that leads outside it (or loops), depth first and sorted,
    /// at most `limit`. Walks without following links.
    public static func escapingLinks(in root: URL, limit: Int = 10) -> [Escape] {
        let base = root.standardizedFileURL
        var found: [Escape] = []
        var pending = [""]
        while let folder = pending.popLast(), found.count < limit {
            let path = folder.isEmpty ? base.path : base.path + "/" + folder
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().reversed()
            for name in names {
                let relative = folder.isEmpty ? name : folder + "/" + name
                var info = stat()
                guard lstat(base.path + "/" + relative, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: pending.append(relative)
                case S_IFLNK:
                    do throws(Escape) {
                        _ = try resolve(relative, in: base)
                    } catch {
                        found.append(error)
                    }
                default: continue
                }
            }
        }
        return found
    }
}
