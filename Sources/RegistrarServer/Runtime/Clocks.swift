import Foundation
import NIOCore
import Synchronization

/// Request ids for server-to-client requests: a node-wide counter, as in Nacos.
final class RequestIdGenerator: Sendable {
    private let next = Atomic<Int64>(1)

    func make() -> String {
        String(next.add(1, ordering: .relaxed).oldValue)
    }
}

/// Milliseconds since the Unix epoch (connection ids, `lastRefTime`).
@Sendable func wallClockMillis() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1000)
}

/// Milliseconds on a monotonic clock, for idle tracking.
func monotonicMillis() -> Int64 {
    Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
}
