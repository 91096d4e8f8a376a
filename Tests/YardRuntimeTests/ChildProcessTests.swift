import Foundation
import Testing
import YardRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `ChildProcess` replaces Foundation's `Process`, whose Linux `run()` over-reads
/// `/proc/self/fd` and crashed the test process once ~1,350 descriptors were open.
@Suite("Child processes")
struct ChildProcessTests {
    /// Runs `/bin/sh -c script` with stdout into a pipe; returns the output and the process.
    private func shell(_ script: String, environment: [String: String]? = nil, directory: String? = nil)
        throws -> (output: String, process: ChildProcess)
    {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.environment = environment
        process.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = nil
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: output, as: UTF8.self), process)
    }

    @Test func manyOpenDescriptorsAreNeitherReadNorInherited() throws {
        // The geometry that crashed Foundation: more than a 32 KB directory buffer of entries.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_max >= 2_000, "the open-files hard limit is \(limit.rlim_max); raise it to 2000 or more")
        if limit.rlim_cur < 2_000 {
            limit.rlim_cur = 2_000
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let opened = (0..<1_500).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in opened where fd >= 0 { close(fd) } }
        #expect(opened.allSatisfy { $0 >= 0 })
        for _ in 0..<20 {
            // `ls` opens the listing itself: 0, 1, 2 and its own directory descriptor.
            let (output, process) = try shell("ls /proc/self/fd")
            #expect(process.terminationStatus == 0)
            let inherited = output.split(separator: "\n").compactMap { Int($0) }.filter { $0 > 3 }
            #expect(inherited.isEmpty, "the child inherited descriptors \(inherited.prefix(5))")
        }
    }

    @Test func exitStatusSignalEnvironmentAndDirectory() throws {
        let (output, exited) = try shell("echo \"$GREETING\"; pwd; exit 7", environment: ["GREETING": "hello"], directory: "/tmp")
        #expect(output == "hello\n/tmp\n")
        #expect(exited.terminationStatus == 7)
        #expect(exited.terminationReason == .exit)
        #expect(!exited.isRunning)

        let (_, killed) = try shell("kill -TERM $$")
        #expect(killed.terminationStatus == SIGTERM)
        #expect(killed.terminationReason == .uncaughtSignal)
    }

    @Test func standardInputIsNullWhenUnsetAndSignalsAreDefault() throws {
        // /dev/null reads as empty; SIGPIPE (which this test process may ignore) is default.
        let (output, process) = try shell("wc -c; grep -E '^Sig(Blk|Ign)' /proc/self/status")
        #expect(process.terminationStatus == 0)
        let lines = output.split(separator: "\n")
        #expect(lines.first == "0")
        #expect(lines.contains("SigBlk:\t0000000000000000"))
        // Bits are signal number - 1; glibc's own real-time signals (32, 33) may stay ignored.
        let ignored = lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(8), radix: 16) }
        #expect(ignored.map { $0 & (1 << (UInt64(SIGPIPE) - 1)) } == 0)
    }

    @Test func reportsTheExitOfTheChildNotOfWhatItLeftRunning() async throws {
        // Foundation waited for every descendant (they share its socket): this took 30 s there.
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "sleep 30 & exit 3"]
        process.standardOutput = nil
        process.standardError = nil
        let started = ContinuousClock.now
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let elapsed = ContinuousClock.now - started
        // It led a process group of its own: the sleep left behind goes with it.
        kill(-process.processIdentifier, SIGKILL)
        #expect(status == 3)
        #expect(elapsed < .seconds(10), "took \(elapsed)")
    }

    @Test func missingProgramIsAClearError() {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/nonexistent/tool")
        #expect(throws: (any Error).self) { try process.run() }
        #expect(!process.isRunning)
    }
}
