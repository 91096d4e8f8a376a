/// A runtime that keeps copies of images elsewhere (the swarm runtime's registry): after the
/// orchestrator removed the images artifact retention no longer keeps from the machine's
/// store, it removes its copies of them too.
public protocol ImageCollecting: Sendable {
    /// Removes every copy whose image is no longer in the machine's image store and that no
    /// replica runs.
    func collectImageCopies() async
}
