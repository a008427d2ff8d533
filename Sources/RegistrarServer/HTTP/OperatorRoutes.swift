import Foundation
import Hummingbird
import NIOCore
import RegistrarCore
import RegistrarWire

/// Health probes, metrics and the cluster view that ops tooling calls (login is `AuthRoutes`).
///
/// Threading: handlers run on the request's event loop.
struct OperatorRoutes: V1RouteGroup {
    let readiness: Readiness
    let metrics: NodeMetrics
    let members: MemberDirectory
    let reader: V1ParameterReader
    /// Whether clients must log in (`server/state` tells tools).
    let authEnabled: Bool

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        router.get("/nacos/v1/console/health/liveness") { _, _ in V1Response.text("OK") }
        router.get("/nacos/v1/console/health/readiness") { _, _ in
            guard let problem = routes.readiness.problem else { return V1Response.text("OK") }
            return V1Response.text(problem, status: .serviceUnavailable)
        }
        router.get("/nacos/v1/ns/operator/metrics") { request, context in
            try routes.metrics(try await routes.reader.read(request, context))
        }
        router.get("/nacos/v1/core/cluster/nodes") { _, _ in routes.clusterNodes() }
        router.get("/nacos/v1/console/server/state") { _, _ in routes.serverState() }
    }

    private var status: String { members.status }

    private func metrics(_ parameters: V1Parameters) throws -> Response {
        V1Response.json(metrics.json(full: !parameters.bool("onlyStatus", default: true)))
    }

    /// Every member with its state; a standalone node lists itself.
    private func clusterNodes() -> Response {
        V1Response.json(V1JSON.clusterNodes(members.all()))
    }

    private func serverState() -> Response {
        var json = JSONWriter()
        json.beginObject()
        json.key("version"); json.string(RegistrarVersion.nacosAPI)
        json.key("registrar_version"); json.string(RegistrarVersion.current)
        json.key("standalone_mode"); json.string("standalone")
        json.key("function_mode"); json.string("naming")
        json.key("auth_enabled"); json.string(authEnabled ? "true" : "false")
        json.endObject()
        return V1Response.json(json.bytes)
    }
}

/// Version strings reported to tools.
public enum RegistrarVersion {
    public static let current = "0.3.0"
    /// The Nacos API level Registrar speaks, for tools that detect features by version.
    public static let nacosAPI = "2.5.1"
}

/// The node's metrics as the metrics endpoints show them (v1 `operator/metrics`, v3
/// `ops/metrics`): the status, and unless `full` is false the registry's counts and every
/// `NodeCounters` value.
///
/// Threading: thread-safe.
struct NodeMetrics: Sendable {
    let store: RegistryStore
    let counters: NodeCounters
    let members: MemberDirectory

    func json(full: Bool) -> [UInt8] {
        guard full else { return V1JSON.metrics(status: members.status, statistics: nil) }
        let statistics = store.read { $0.statistics() }
        var loadAverage = [0.0, 0, 0]
        let load = getloadavg(&loadAverage, 1) == 1 ? loadAverage[0] : 0
        return V1JSON.metrics(status: members.status, statistics: statistics, extra: counters.all, load: load)
    }
}

/// The cluster's members as the node endpoints show them (v1, v2 and v3): every member with its
/// state; a standalone node lists itself.
///
/// Threading: thread-safe.
struct MemberDirectory: Sendable {
    let readiness: Readiness
    /// Cluster mode: the member table; nil for a standalone node.
    let cluster: ClusterNode?
    /// How a standalone node lists itself.
    let advertisedIP: String
    let port: Int

    var status: String { readiness.isReady ? "UP" : "STARTING" }

    func all() -> [V1JSON.Member] {
        let now = wallClockMillis()
        guard let node = cluster else { return [me(now: now)] }
        let table = node.memberTable
        return table.members.values.sorted { $0.address < $1.address }.map { member in
            let isMe = member.address == table.me
            return V1JSON.Member(
                ip: member.address.host, port: member.address.port, state: isMe ? status : member.state.rawValue,
                version: RegistrarVersion.nacosAPI, lastRefreshTime: isMe ? now : member.lastSeen,
                failAccessCount: member.failures
            )
        }
    }

    /// This node.
    func me(now: Int64 = wallClockMillis()) -> V1JSON.Member {
        guard let node = cluster else {
            return V1JSON.Member(
                ip: advertisedIP, port: port, state: status, version: RegistrarVersion.nacosAPI, lastRefreshTime: now)
        }
        let address = node.memberTable.me
        return V1JSON.Member(
            ip: address.host, port: address.port, state: status, version: RegistrarVersion.nacosAPI,
            lastRefreshTime: now)
    }
}
