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
        func pushes(_ transport: String, _ result: String) -> Counter {
            metrics.counter(MetricName.pushes, [("transport", transport), ("result", result)])
        }
        sent = pushes("grpc", "sent")
        acked = pushes("grpc", "acked")
        retries = pushes("grpc", "retried")
        abandoned = pushes("grpc", "abandoned")
        skipped = pushes("grpc", "skipped")
        udpSent = pushes("udp", "sent")
        udpAcks = pushes("udp", "acked")
        udpResends = pushes("udp", "retried")
        latency = metrics.timer(MetricName.pushLatency, [("transport", "grpc")])
    }

    /// The Nacos JSON names of these counts.
    static let jsonNames: [(String, String, [String: String])] = [
        ("pushesSent", MetricName.pushes, ["transport": "grpc", "result": "sent"]),
        ("pushesAcked", MetricName.pushes, ["transport": "grpc", "result": "acked"]),
        ("pushRetries", MetricName.pushes, ["transport": "grpc", "result": "retried"]),
        ("pushesAbandoned", MetricName.pushes, ["transport": "grpc", "result": "abandoned"]),
        ("pushesSkippedAsKnown", MetricName.pushes, ["transport": "grpc", "result": "skipped"]),
        ("udpPushesSent", MetricName.pushes, ["transport": "udp", "result": "sent"]),
        ("udpPushAcks", MetricName.pushes, ["transport": "udp", "result": "acked"]),
        ("udpPushResends", MetricName.pushes, ["transport": "udp", "result": "retried"]),
    ]
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
