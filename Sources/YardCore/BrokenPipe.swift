import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writing into a pipe whose reader is gone raises SIGPIPE, which kills the process by
/// default. A child that exits without reading its stdin (a notification hook that ignores
/// the event) must cost an EPIPE error, never the server. SwiftNIO ignores the signal once
/// an event loop starts; code that writes to a child's pipe calls this first so it never
/// depends on that having happened.
public enum BrokenPipe {
    private static let ignored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Ignores SIGPIPE for the whole process (once; children started later get the default
    /// back from the launchers).
    public static func ignore() { ignored }
}
