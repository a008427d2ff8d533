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
        malformedPayloads = metrics.counter("registrar_grpc_malformed_payloads_total")
        accessRefusals = metrics.counter("registrar_access_refusals_total", [("front", "grpc")])
        rateLimited = metrics.counter("registrar_grpc_rate_limited_total")
        unknownRequests = metrics.counter("registrar_grpc_unknown_requests_total")
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
        healthProbes = metrics.counter("registrar_health_probes_total")
        changeLogBatchesApplied = metrics.counter("registrar_change_log_batches_applied_total")
        changeLogReloads = metrics.counter("registrar_change_log_reloads_total")
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
        let names = Self.jsonNames + PushCounters.jsonNames + (clusterMode ? ClusterCounters.jsonNames : [])
        return [("grpcConnectionCount", connections.count)]
            + names.map { name, metric, labels in (name, reading.count(metric, labels)) }
    }

    private static let jsonNames: [(String, String, [String: String])] = [
        ("malformedPayloads", "registrar_grpc_malformed_payloads_total", [:]),
        ("grpcAccessRefusals", "registrar_access_refusals_total", ["front": "grpc"]),
        ("grpcConnectionsRefusedPerIP", "registrar_grpc_connections_refused_total", ["reason": "per_ip_limit"]),
        ("grpcHandshakeTimeouts", "registrar_grpc_handshake_timeouts_total", [:]),
        ("grpcRequestsRateLimited", "registrar_grpc_rate_limited_total", [:]),
        ("grpcUnknownRequests", "registrar_grpc_unknown_requests_total", [:]),
        ("httpHeaderTimeouts", "registrar_http_header_timeouts_total", [:]),
        ("healthProbes", "registrar_health_probes_total", [:]),
        ("changeLogBatchesApplied", "registrar_change_log_batches_applied_total", [:]),
        ("changeLogReloads", "registrar_change_log_reloads_total", [:]),
    ]

    static func transportCounters(_ metrics: RegistrarMetrics) -> GRPCServer.Counters {
        GRPCServer.Counters(
            refusedConnections: metrics.counter(
                "registrar_grpc_connections_refused_total", [("reason", "per_ip_limit")]),
            handshakeTimeouts: metrics.counter("registrar_grpc_handshake_timeouts_total"))
    }
}
