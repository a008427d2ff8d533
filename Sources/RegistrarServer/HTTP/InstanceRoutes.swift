import Foundation
import Hummingbird
import RegistrarCore
import RegistrarWire

/// `/nacos/v1/ns/instance…`: v1 registration, edits, reads and heartbeats (the operations
/// themselves are `InstanceOperations`, shared with the v2 and v3 APIs).
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct InstanceRoutes: V1RouteGroup {
    private var naming: NamingContext { operations.naming }
    let operations: InstanceOperations
    let reader: V1ParameterReader
    /// Cluster mode: sends requests for another member's `ip:port` there.
    let forwarder: V1Forwarder?
    let udpPush: PushScheduler

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let path = "/nacos/v1/ns/instance"
        router.post(RouterPath(path)) { request, context in
            let parameters = try await routes.reader.read(request, context)
            if let forwarded = await routes.forwarder?.forwardToResponsibleMember(request, parameters) {
                return forwarded
            }
            try await routes.operations.register(parameters)
            return V1Response.ok
        }
        router.delete(RouterPath(path)) { request, context in
            let parameters = try await routes.reader.read(request, context)
            if let forwarded = await routes.forwarder?.forwardToResponsibleMember(request, parameters) {
                return forwarded
            }
            try await routes.operations.deregister(parameters)
            return V1Response.ok
        }
        router.put(RouterPath(path)) { request, context in
            try routes.operations.update(try await routes.reader.read(request, context))
            return V1Response.ok
        }
        router.patch(RouterPath(path)) { request, context in
            try routes.operations.patch(try await routes.reader.read(request, context))
            return V1Response.ok
        }
        router.get(RouterPath(path)) { request, context in
            let (instance, service) = try routes.operations.detail(try await routes.reader.read(request, context))
            return V1Response.json(V1JSON.instanceDetail(instance, service: service))
        }
        router.get(RouterPath(path + "/list")) { request, context in
            try routes.list(
                try await routes.reader.read(request, context), userAgent: request.headers[.userAgent], context: context
            )
        }
        router.put(RouterPath(path + "/beat")) { request, context in
            let parameters = try await routes.reader.read(request, context)
            let target = try routes.beatTarget(parameters)
            if let forwarded = await routes.forwarder?.forwardToResponsibleMember(
                request, parameters, ip: target.ip, port: target.port)
            {
                return forwarded
            }
            return try routes.beat(target)
        }
    }

    /// The instances of a service (2.x shape, grouped `name`). With `udpPort` (and `clientIP`)
    /// from a client that can take UDP pushes, the caller is subscribed for them.
    private func list(_ parameters: V1Parameters, userAgent: String?, context: V1RequestContext) throws -> Response {
        let (service, filter) = try operations.listQuery(parameters)
        let udpPort = try parameters.int("udpPort") ?? 0
        guard (0...65535).contains(udpPort) else {
            throw V1Error(.badRequest, "Param 'udpPort' is illegal, the value should be between 0 and 65535.")
        }
        if udpPort > 0, UDPPushEligibility.canPush(userAgent: userAgent),
            let clientIP = parameters.optional("clientIP") ?? context.remoteIP
        {
            let subscriber = IPPortClientID.make(ip: clientIP, port: udpPort, ephemeral: true)
            subscribeForUDPPush(subscriber, service: service, clusters: filter.clusters)
        }
        let encoded = naming.store.encodedServiceInfo(service, filter: filter, style: .v1)
        return V1Response.json(encoded.json)
    }

    /// Subscribes a v1 client's UDP address to `service` (renewing its lease), and pushes the
    /// current data at once the first time.
    private func subscribeForUDPPush(_ client: ClientID, service: ServiceKey, clusters: String) {
        let now = monotonicMillis()
        let firstTime = try? naming.store.withRegistry { (registry) throws(RegistryError) in
            try registry.subscribeLeased(client, to: service, clusters: clusters, now: now)
        }
        if firstTime == true {
            udpPush.pushOverUDP(to: client, service: service, clusters: clusters)
        }
    }

    /// What a beat is about: the service, and the instance from the `beat` JSON or the plain
    /// parameters (read once, for routing and for the beat itself).
    private struct BeatTarget {
        var service: ServiceKey
        var ip: String
        var port: Int
        var cluster: String?
        var beat: BeatInfo?
    }

    private func beatTarget(_ parameters: V1Parameters) throws -> BeatTarget {
        let service = try parameters.service(validation: naming.validation)
        var ip = parameters.optional("ip")
        var port = try parameters.int("port") ?? 0
        var cluster = parameters.optional("clusterName")
        var beat: BeatInfo?
        if let text = parameters.optional("beat") {
            do {
                beat = try JSONDecoder().decode(BeatInfo.self, from: Data(text.utf8))
            } catch {
                throw V1Error(.badRequest, "Param 'beat' is illegal, it is not valid beat JSON: \(text)")
            }
            if let beatIP = beat?.ip, !beatIP.isEmpty { ip = beatIP }
            if let beatPort = beat?.port { port = beatPort }
            if let beatCluster = beat?.cluster, !beatCluster.isEmpty { cluster = beatCluster }
        }
        guard let ip else { throw V1Error(.badRequest, "Param 'ip' is required.") }
        guard (0...65535).contains(port) else {
            throw V1Error(.badRequest, "Param 'port' is illegal, the value should be between 0 and 65535.")
        }
        return BeatTarget(service: service, ip: ip, port: port, cluster: cluster, beat: beat)
    }

    private func beat(_ target: BeatTarget) throws -> Response {
        let (service, ip, port, cluster, beat) = (target.service, target.ip, target.port, target.cluster, target.beat)
        var outcome = operations.heartbeat(ip: ip, port: port, service: service)
        if outcome == .unknownInstance, let beat {
            // A full beat re-registers a lost instance, as Nacos does. Unlike Nacos, a beat
            // without a weight registers weight 1.0, not 0.0 (which would take no traffic).
            let instance = Instance(
                ip: ip, port: port, weight: beat.weight ?? 1.0, clusterName: cluster,
                metadata: beat.metadata?.compactMapValues(\.value) ?? [:])
            try operations.publish(instance, into: service)
            outcome = operations.heartbeat(ip: ip, port: port, service: service)
        }
        switch outcome {
        case .unknownInstance:
            return V1Response.json(V1JSON.beat(interval: PreservedMetadata.defaultHeartbeatInterval, code: 20404))
        case .refreshed(_, let interval):
            return V1Response.json(V1JSON.beat(interval: interval, code: 10200))
        }
    }

    /// The `beat` JSON of a full heartbeat (Nacos's `RsInfo`); unknown fields are ignored.
    private struct BeatInfo: Decodable {
        var ip: String?
        var port: Int?
        var serviceName: String?
        var cluster: String?
        var weight: Double?
        var metadata: [String: LooseString]?
        var ephemeral: Bool?
    }
}

/// Which v1 clients get UDP pushes: those whose User-Agent names a client that listens for
/// them (`<type>:v<version>`), as Nacos decides. Python and unknown clients poll instead.
enum UDPPushEligibility {
    private static let minimumVersions: [String: [Int]] = [
        "Nacos-Java-Client": [0, 1, 0], "Nacos-Go-Client": [0, 1, 0], "Nacos-DNS": [0, 4, 3],
        "Nacos-C-Client": [1, 0, 12], "vip-client4cpp": [1, 0, 12], "Nacos-CSharp-Client": [0, 9, 0],
    ]

    static func canPush(userAgent: String?) -> Bool {
        guard let userAgent, let colon = userAgent.firstIndex(of: ":") else { return false }
        guard let minimum = minimumVersions[String(userAgent[..<colon])] else { return false }
        var version = userAgent[userAgent.index(after: colon)...]
        if version.first == "v" { version = version.dropFirst() }
        let parts = version.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        for index in 0..<max(parts.count, minimum.count) {
            let have = index < parts.count ? parts[index] : 0
            let need = index < minimum.count ? minimum[index] : 0
            if have != need { return have > need }
        }
        return true
    }
}
