import ArgumentParser
import Foundation
import YardClient
import YardCore

struct Cache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or prune the server's install cache (dependency folders keyed by lockfiles and toolchains).",
        subcommands: [CacheList.self, CachePrune.self],
        defaultSubcommand: CacheList.self
    )
}

struct CacheList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the install cache's entries, most recently used first.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        try await reportingErrors {
            let entries = try await options.client().cacheEntries()
            if options.json { try Output.json(entries); return }
            if entries.isEmpty {
                print("The install cache is empty: the first build of a dependency set fills it.")
                return
            }
            print("KEY           SIZE        LAST USED")
            for entry in entries {
                let size = ByteSize.format(entry.bytes).padding(toLength: 10, withPad: " ", startingAt: 0)
                print("\(entry.key.prefix(12))  \(size)  \(Output.time(entry.lastUsed))")
            }
            let total = entries.reduce(Int64(0)) { $0 + $1.bytes }
            print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies"), \(ByteSize.format(total)) in all")
        }
    }
}

struct CachePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Evict the least recently used entries down to the server's --cache-size, or empty the cache (--all)."
    )

    @OptionGroup var options: ServerOptions

    @Flag(help: "Remove every entry.")
    var all = false

    func run() async throws {
        try await reportingErrors {
            let result = try await options.client().pruneCache(all: all)
            if options.json { try Output.json(result); return }
            print("Removed \(result.removedEntries) entr\(result.removedEntries == 1 ? "y" : "ies") (\(Self.size(result.freedBytes))); "
                + "\(result.remainingEntries) left (\(Self.size(result.remainingBytes))).")
        }
    }

    static func size(_ bytes: Int64) -> String {
        bytes == 0 ? "0 bytes" : ByteSize.format(bytes)
    }
}
