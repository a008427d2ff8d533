import CoreMetrics
import Metrics
import Prometheus

/// A node's metrics: every counter, gauge and histogram is a swift-metrics handle made here,
/// once, at composition (the hot paths hold them; nothing is looked up per event), and
/// recorded into this node's own Prometheus registry, which `/metrics` and
/// `/nacos/actuator/prometheus` render and the Nacos JSON endpoint reads back (`reading()`).
/// A registry per node, not the process-wide `MetricsSystem`: a test process runs many nodes.
///
/// With `enabled` false every handle is swift-metrics' no-op one (the bench's baseline); the
/// scrape is then empty and the JSON counters read zero.
///
/// Threading: thread-safe.
package final class RegistrarMetrics: Sendable {
    let enabled: Bool
    private let registry: PrometheusCollectorRegistry
    private let factory: any MetricsFactory

    package init(enabled: Bool = true) {
        self.enabled = enabled
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.durationHistogramBuckets = Self.buckets
        factory = enabled ? prometheus : NOOPMetricsHandler.instance
    }

    func counter(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
    }

    func counter(_ series: CounterSeries) -> CoreMetrics.Counter {
        counter(series.name, series.labels)
    }

    /// A histogram of durations, exported in seconds.
    func timer(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: name, dimensions: labels, factory: factory)
    }

    func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
    }

    /// The Prometheus text format (0.0.4) of every metric.
    func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// Every sample as it would be scraped now.
    func reading() -> MetricsReading {
        MetricsReading(exposition: exposition())
    }

    /// Histogram buckets by metric: gRPC calls take tens of microseconds, pushes wait for an
    /// ack over the network, durable writes for a database.
    private static let buckets: [String: [Duration]] = {
        let fast: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        let network: [Duration] = [
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5), .seconds(5), .seconds(10),
        ]
        return [
            MetricName.requestDuration: fast, MetricName.durableWriteDuration: fast,
            MetricName.pushLatency: network, MetricName.distroSyncDuration: network,
        ]
    }()
}

/// One counter series and the name Nacos's JSON endpoint shows it under, declared once: made
/// into a handle by `RegistrarMetrics.counter(_:)`, read back by `MetricsReading.count(_:)`.
struct CounterSeries: Sendable {
    let json: String
    let name: String
    let labels: [(String, String)]

    init(_ json: String, _ name: String, _ labels: [(String, String)] = []) {
        self.json = json
        self.name = name
        self.labels = labels
    }
}

/// The names of the metrics that more than one file records or reads.
enum MetricName {
    static let requests = "registrar_requests_total"
    static let requestDuration = "registrar_request_duration_seconds"
    static let pushes = "registrar_pushes_total"
    static let pushLatency = "registrar_push_latency_seconds"
    static let durableWriteDuration = "registrar_durable_write_duration_seconds"
    static let distroSyncDuration = "registrar_distro_sync_duration_seconds"
    static let distroSyncBytes = "registrar_distro_sync_bytes_total"
    static let connections = "registrar_connections"
}

extension CoreMetrics.Timer {
    /// Records the time since `start`.
    func record(since start: ContinuousClock.Instant) {
        record(duration: ContinuousClock.now - start)
    }
}
