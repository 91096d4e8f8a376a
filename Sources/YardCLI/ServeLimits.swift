import ArgumentParser
import YardControl
import YardCore

/// `yard serve`'s default limits: what every box gets unless its service sets its own
/// (`yard scale`). `0` means no limit.
struct ServeLimitOptions: ParsableArguments {
    @Option(help: "Memory of each replica, pre-deploy command and cron run whose service sets none, e.g. 2G (0: no limit).")
    var replicaMemory = "2G"

    @Option(help: "CPU cores of each replica whose service sets none, e.g. 1.5 (0: no limit).")
    var replicaCpus = 1.0

    @Option(help: "Processes (and threads) of each replica whose service sets none (0: no limit).")
    var replicaProcesses = 1024

    @Option(help: "Processes (and threads) of each build step whose service sets none (0: no limit).")
    var buildProcesses = 4096

    func validate() throws {
        _ = try ByteSize.parse(replicaMemory)
        guard replicaCpus >= 0 else { throw ValidationError("--replica-cpus must be 0 (no limit) or more, e.g. 1.5") }
        guard replicaProcesses >= 0, buildProcesses >= 0 else {
            throw ValidationError("--replica-processes and --build-processes must be 0 (no limit) or more, e.g. 1024")
        }
        if replicaProcesses > 0, replicaProcesses < 16 {
            throw ValidationError("--replica-processes must be at least 16: a shell, its command and their threads need some")
        }
    }

    func apply(to configuration: inout Orchestrator.Configuration) throws {
        let memory = try ByteSize.parse(replicaMemory)
        configuration.replicaLimits = ResourceLimits(
            memoryBytes: memory == 0 ? nil : memory, cpus: replicaCpus == 0 ? nil : replicaCpus,
            maxProcesses: replicaProcesses == 0 ? nil : replicaProcesses)
        configuration.buildLimits.maxProcesses = buildProcesses == 0 ? nil : buildProcesses
    }
}
