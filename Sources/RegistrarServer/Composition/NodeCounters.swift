import RegistrarTransport
import Synchronization

/// Payloads on the SDK port that could not be parsed, on either path, and requests refused
/// for want of a valid token or permission.
///
/// Threading: thread-safe.
final class RPCCounters: Sendable {
    let malformedPayloads = Atomic<Int>(0)
    let accessRefusals = Atomic<Int>(0)
    let rateLimited = Atomic<Int>(0)
    let unknownRequests = Atomic<Int>(0)
    let unknownTypes = UnknownRequestTypes()
}

/// Health probes this member ran, and durable-change batches it applied from a shared store's log.
///
/// Threading: thread-safe.
final class DurableCounters: Sendable {
    let healthProbes = Atomic<Int>(0)
    let changeLogBatchesApplied = Atomic<Int>(0)
    let changeLogReloads = Atomic<Int>(0)

    var all: [(String, Int)] {
        [
            ("healthProbes", healthProbes.value), ("changeLogBatchesApplied", changeLogBatchesApplied.value),
            ("changeLogReloads", changeLogReloads.value),
        ]
    }
}

/// Every counter of a node by name: the metrics endpoint and the shutdown log read them here.
struct NodeCounters: Sendable {
    let connections: ConnectionTable
    let push: PushCounters
    let rpc: RPCCounters
    let transport: GRPCServer.Counters
    let http: V1Front.Counters
    let durable: DurableCounters
    /// Cluster mode only.
    let cluster: ClusterCounters?

    var all: [(String, Int)] {
        [("grpcConnectionCount", connections.count)] + push.all
            + [("malformedPayloads", rpc.malformedPayloads.value), ("grpcAccessRefusals", rpc.accessRefusals.value)]
            + [
                ("grpcConnectionsRefusedPerIP", transport.refusedConnections.value),
                ("grpcHandshakeTimeouts", transport.handshakeTimeouts.value),
                ("grpcRequestsRateLimited", rpc.rateLimited.value),
                ("grpcUnknownRequests", rpc.unknownRequests.value),
                ("httpHeaderTimeouts", http.headerTimeouts.value),
            ]
            + durable.all + (cluster?.all ?? [])
    }
}
