import CoreMetrics
import RegistrarTransport

/// Payloads on the SDK port that could not be parsed, on either path, and requests refused
/// for want of a valid token or permission, or over the connection's rate.
///
/// Threading: thread-safe.
final class RPCCounters: Sendable {
    let malformedPayloads: Counter
    let accessRefusals: Counter
    let rateLimited: Counter
    let unknownRequests: Counter
    let unknownTypes = UnknownRequestTypes()

    init(metrics: RegistrarMetrics) {
        malformedPayloads = metrics.counter(NodeCounters.Series.malformedPayloads)
        accessRefusals = metrics.counter(NodeCounters.Series.grpcAccessRefusals)
        rateLimited = metrics.counter(NodeCounters.Series.grpcRateLimited)
        unknownRequests = metrics.counter(NodeCounters.Series.grpcUnknownRequests)
    }
}

/// Health probes this member ran, durable-change batches it applied from a shared store's log,
/// and how long durable commits take.
///
/// Threading: thread-safe.
final class DurableCounters: Sendable {
    let healthProbes: Counter
    let changeLogBatchesApplied: Counter
    let changeLogReloads: Counter
    let commitDuration: CoreMetrics.Timer

    init(metrics: RegistrarMetrics) {
        healthProbes = metrics.counter(NodeCounters.Series.healthProbes)
        changeLogBatchesApplied = metrics.counter(NodeCounters.Series.changeLogBatchesApplied)
        changeLogReloads = metrics.counter(NodeCounters.Series.changeLogReloads)
        commitDuration = metrics.timer(MetricName.durableWriteDuration)
    }
}

/// Every count of a node under its Nacos JSON name, read back from the node's metrics: the
/// metrics endpoint's `extra` fields and the shutdown log.
///
/// Threading: thread-safe.
struct NodeCounters: Sendable {
    let metrics: RegistrarMetrics
    let connections: ConnectionTable
    /// Cluster mode only.
    let clusterMode: Bool

    var all: [(String, Int)] {
        let reading = metrics.reading()
        let series = Series.all + PushCounters.Series.all + (clusterMode ? ClusterCounters.Series.all : [])
        return [("grpcConnectionCount", connections.count)] + series.map { ($0.json, reading.count($0)) }
    }

    /// The node's own counters (the push and cluster ones are with their counters).
    enum Series {
        static let malformedPayloads = CounterSeries("malformedPayloads", "registrar_grpc_malformed_payloads_total")
        static let grpcAccessRefusals = CounterSeries(
            "grpcAccessRefusals", "registrar_access_refusals_total", [("front", "grpc")])
        static let grpcConnectionsRefused = CounterSeries(
            "grpcConnectionsRefusedPerIP", "registrar_grpc_connections_refused_total", [("reason", "per_ip_limit")])
        static let grpcHandshakeTimeouts = CounterSeries(
            "grpcHandshakeTimeouts", "registrar_grpc_handshake_timeouts_total")
        static let grpcRateLimited = CounterSeries("grpcRequestsRateLimited", "registrar_grpc_rate_limited_total")
        static let grpcUnknownRequests = CounterSeries(
            "grpcUnknownRequests", "registrar_grpc_unknown_requests_total")
        static let httpHeaderTimeouts = CounterSeries("httpHeaderTimeouts", "registrar_http_header_timeouts_total")
        static let healthProbes = CounterSeries("healthProbes", "registrar_health_probes_total")
        static let changeLogBatchesApplied = CounterSeries(
            "changeLogBatchesApplied", "registrar_change_log_batches_applied_total")
        static let changeLogReloads = CounterSeries("changeLogReloads", "registrar_change_log_reloads_total")
        static let all = [
            malformedPayloads, grpcAccessRefusals, grpcConnectionsRefused, grpcHandshakeTimeouts, grpcRateLimited,
            grpcUnknownRequests, httpHeaderTimeouts, healthProbes, changeLogBatchesApplied, changeLogReloads,
        ]
    }

    static func transportCounters(_ metrics: RegistrarMetrics) -> GRPCServer.Counters {
        GRPCServer.Counters(
            refusedConnections: metrics.counter(Series.grpcConnectionsRefused),
            handshakeTimeouts: metrics.counter(Series.grpcHandshakeTimeouts))
    }
}
