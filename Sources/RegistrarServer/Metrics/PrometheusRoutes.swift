import CoreMetrics
import Hummingbird
import NIOCore

/// The gauges, set from the registry, the connection table and the member table at each
/// scrape (they are states, not events: nothing on the hot path keeps them).
///
/// Threading: thread-safe.
struct GaugeSampler: Sendable {
    static let memberStates = ["UP", "SUSPICIOUS", "DOWN", "STARTING"]

    let store: RegistryStore
    let connections: ConnectionTable
    let members: MemberDirectory
    private let grpcConnections: Gauge
    private let ephemeralInstances: Gauge
    private let persistentInstances: Gauge
    private let services: Gauge
    private let subscribers: Gauge
    private let membersByState: [String: Gauge]

    init(metrics: RegistrarMetrics, store: RegistryStore, connections: ConnectionTable, members: MemberDirectory) {
        self.store = store
        self.connections = connections
        self.members = members
        grpcConnections = metrics.gauge(MetricName.connections, [("kind", "grpc")])
        ephemeralInstances = metrics.gauge("registrar_instances", [("ephemeral", "true")])
        persistentInstances = metrics.gauge("registrar_instances", [("ephemeral", "false")])
        services = metrics.gauge("registrar_services")
        subscribers = metrics.gauge("registrar_subscribers")
        var byState: [String: Gauge] = [:]
        for state in Self.memberStates {
            byState[state] = metrics.gauge("registrar_cluster_members", [("state", state)])
        }
        membersByState = byState
    }

    func sample() {
        let statistics = store.read { $0.statistics() }
        grpcConnections.record(connections.count)
        persistentInstances.record(statistics.persistentInstanceCount)
        ephemeralInstances.record(statistics.instanceCount - statistics.persistentInstanceCount)
        services.record(statistics.serviceCount)
        subscribers.record(statistics.subscriptionCount)
        var counts = Dictionary(uniqueKeysWithValues: Self.memberStates.map { ($0, 0) })
        for member in members.all() { counts[member.state, default: 0] += 1 }
        for (state, gauge) in membersByState { gauge.record(counts[state] ?? 0) }
    }
}

/// `GET /metrics` and `GET /nacos/actuator/prometheus` (Nacos's path): every metric in
/// Prometheus's text format 0.0.4. Open like the probes: it holds counts by request type and
/// state, never a service name or an address.
///
/// Threading: handlers run on the request's event loop.
struct PrometheusRoutes: V1RouteGroup {
    static let paths: Set<String> = ["/metrics", "/nacos/actuator/prometheus"]

    let metrics: RegistrarMetrics
    let gauges: GaugeSampler

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        for path in Self.paths {
            router.get(RouterPath(path)) { _, _ in routes.scrape() }
        }
    }

    private func scrape() -> Response {
        gauges.sample()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
}
