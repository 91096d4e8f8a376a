import Foundation
import Testing

/// Tests whose cost would break CI's 45-minute budget and that repeat what another end-to-end
/// test already covers for one variant: they run in the slow tier (`YARD_SLOW_TESTS=1
/// scripts/test.sh`) and are reported as skipped, with why, otherwise.
enum SlowTier {
    static func only(_ why: String) -> ConditionTrait {
        .enabled(
            if: ProcessInfo.processInfo.environment["YARD_SLOW_TESTS"] == "1",
            Comment(rawValue: "slow tier: YARD_SLOW_TESTS=1 scripts/test.sh runs it (\(why))"))
    }
}
