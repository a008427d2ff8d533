import Synchronization

/// Pushes over gRPC streams and UDP, counted for the metrics endpoint and the shutdown log.
///
/// Threading: thread-safe (atomics, relaxed: counters order nothing).
final class PushCounters: Sendable {
    let sent = Atomic<Int>(0)
    let acked = Atomic<Int>(0)
    let retries = Atomic<Int>(0)
    let abandoned = Atomic<Int>(0)
    /// Offers dropped because the client already had that revision (its subscribe answer).
    let skipped = Atomic<Int>(0)
    let udpSent = Atomic<Int>(0)
    let udpAcks = Atomic<Int>(0)
    let udpResends = Atomic<Int>(0)

    var all: [(String, Int)] {
        [
            ("pushesSent", sent.value), ("pushesAcked", acked.value), ("pushRetries", retries.value),
            ("pushesAbandoned", abandoned.value),
            ("pushesSkippedAsKnown", skipped.value), ("udpPushesSent", udpSent.value), ("udpPushAcks", udpAcks.value),
            ("udpPushResends", udpResends.value),
        ]
    }
}

extension Atomic where Value == Int {
    /// The current count (relaxed: counters order nothing).
    var value: Int { load(ordering: .relaxed) }

    func add(_ amount: Int) {
        _ = add(amount, ordering: .relaxed)
    }
}
