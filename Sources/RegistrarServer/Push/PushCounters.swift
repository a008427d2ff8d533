import CoreMetrics
import Synchronization

/// Pushes over gRPC streams and UDP (`registrar_pushes_total{transport,result}`), and how long
/// a change took to be acked (`registrar_push_latency_seconds`, from the change to the ack).
///
/// Threading: thread-safe.
final class PushCounters: Sendable {
    let sent: Counter
    let acked: Counter
    let retries: Counter
    let abandoned: Counter
    /// Offers dropped because the client already had that revision (its subscribe answer).
    let skipped: Counter
    let udpSent: Counter
    let udpAcks: Counter
    let udpResends: Counter
    let latency: CoreMetrics.Timer

    init(metrics: RegistrarMetrics) {
        sent = metrics.counter(Series.sent)
        acked = metrics.counter(Series.acked)
        retries = metrics.counter(Series.retried)
        abandoned = metrics.counter(Series.abandoned)
        skipped = metrics.counter(Series.skipped)
        udpSent = metrics.counter(Series.udpSent)
        udpAcks = metrics.counter(Series.udpAcked)
        udpResends = metrics.counter(Series.udpRetried)
        latency = metrics.timer(MetricName.pushLatency, [("transport", "grpc")])
    }

    enum Series {
        static let sent = push("pushesSent", "grpc", "sent")
        static let acked = push("pushesAcked", "grpc", "acked")
        static let retried = push("pushRetries", "grpc", "retried")
        static let abandoned = push("pushesAbandoned", "grpc", "abandoned")
        static let skipped = push("pushesSkippedAsKnown", "grpc", "skipped")
        static let udpSent = push("udpPushesSent", "udp", "sent")
        static let udpAcked = push("udpPushAcks", "udp", "acked")
        static let udpRetried = push("udpPushResends", "udp", "retried")
        static let all = [sent, acked, retried, abandoned, skipped, udpSent, udpAcked, udpRetried]

        private static func push(_ json: String, _ transport: String, _ result: String) -> CounterSeries {
            CounterSeries(json, MetricName.pushes, [("transport", transport), ("result", result)])
        }
    }
}

extension Counter {
    func add(_ amount: Int) {
        increment(by: amount)
    }
}

extension Atomic where Value == Int {
    /// The current count (relaxed: counts order nothing).
    var value: Int { load(ordering: .relaxed) }

    func add(_ amount: Int) {
        _ = add(amount, ordering: .relaxed)
    }
}
