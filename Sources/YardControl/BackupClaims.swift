/// Services with a backup or restore under way (an environment copy's restore included):
/// one at a time per service. Only `claim` and `release` change it.
struct BackupClaims {
    private var claimed: Set<Orchestrator.ServiceKey> = []

    func contains(_ key: Orchestrator.ServiceKey) -> Bool { claimed.contains(key) }

    func contains(environmentID: String) -> Bool { claimed.contains { $0.environmentID == environmentID } }

    /// Claims the service; false when it is claimed already.
    mutating func claim(_ key: Orchestrator.ServiceKey) -> Bool { claimed.insert(key).inserted }

    mutating func release(_ key: Orchestrator.ServiceKey) { claimed.remove(key) }
}
