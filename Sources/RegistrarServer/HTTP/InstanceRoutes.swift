import Foundation
import Hummingbird
import RegistrarCore
import RegistrarWire

/// `/nacos/v1/ns/instance…`: v1 registration, edits, reads and heartbeats.
///
/// An instance registered here belongs to the client `ip:port#true`, which lives by heartbeats
/// (5/15/30 s by default, or the instance's `preserved.*` metadata); see `Registry.sweep`.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct InstanceRoutes: V1RouteGroup {
    let naming: NamingContext
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
            return try await routes.register(parameters)
        }
        router.delete(RouterPath(path)) { request, context in
            let parameters = try await routes.reader.read(request, context)
            if let forwarded = await routes.forwarder?.forwardToResponsibleMember(request, parameters) {
                return forwarded
            }
            return try await routes.deregister(parameters)
        }
        router.put(RouterPath(path)) { request, context in
            try routes.update(try await routes.reader.read(request, context))
        }
        router.patch(RouterPath(path)) { request, context in
            try routes.patch(try await routes.reader.read(request, context))
        }
        router.get(RouterPath(path)) { request, context in
            try routes.detail(try await routes.reader.read(request, context))
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

    /// Registers an instance: a heartbeat one (`ip:port#true`), or with `ephemeral=false` a
    /// persistent one, answered only once it is on disk.
    private func register(_ parameters: V1Parameters) async throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        let instance = Instance(
            ip: ip, port: port, weight: try parameters.weight() ?? 1.0,
            healthy: parameters.bool("healthy", default: true),
            enabled: enabled(parameters) ?? true,
            clusterName: parameters.optional("clusterName") ?? parameters.optional("cluster"),
            metadata: try parameters.metadata() ?? [:]
        )
        if parameters.bool("ephemeral", default: true) {
            try publish(instance, into: service)
        } else {
            try await naming.write(.registerPersistent(instance, into: service))
        }
        return V1Response.ok
    }

    /// `enabled`, or the legacy `enable` that the Java and Python clients send.
    private func enabled(_ parameters: V1Parameters) -> Bool? {
        guard parameters.optional("enabled") != nil || parameters.optional("enable") != nil else { return nil }
        return parameters.optional("enabled") != nil
            ? parameters.bool("enabled", default: true) : parameters.bool("enable", default: true)
    }

    private func publish(_ instance: Instance, into service: ServiceKey) throws {
        let now = monotonicMillis()
        let changed = try naming.store.withRegistry { (registry) throws(RegistryError) in
            try registry.publishBeating(instance, into: service, now: now)
        }
        naming.changes.servicesChanged(changed)
    }

    /// Deregisters an instance. Without an `ephemeral` parameter, a persistent instance at
    /// that address is the one meant when there is no heartbeat one (Nacos would answer `ok`
    /// and remove nothing).
    private func deregister(_ parameters: V1Parameters) async throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        _ = try parameters.weight()
        let heartbeatClient = IPPortClientID.make(ip: ip, port: port, ephemeral: true)
        let persistent =
            parameters.optional("ephemeral") == nil
            ? naming.store.read {
                $0.persistentInstance(ip: ip, port: port, in: service) != nil
                    && !$0.publishes(heartbeatClient, into: service)
            }
            : !parameters.bool("ephemeral", default: true)
        if persistent {
            try await naming.write(.deregisterPersistent(ip: ip, port: port, from: service))
        } else {
            naming.changes.servicesChanged(
                naming.store.withRegistry { $0.withdrawIPPortClient(heartbeatClient, from: service) })
        }
        return V1Response.ok
    }

    private func address(_ parameters: V1Parameters, legacyCluster: Bool) throws -> InstanceAddress {
        let ip = try parameters.required("ip")
        let port = try parameters.port()
        let cluster =
            parameters.optional("clusterName") ?? (legacyCluster ? parameters.optional("cluster") : nil)
            ?? Instance.defaultCluster
        try naming.validation.checkCluster(cluster)
        return InstanceAddress(ip: ip, port: port, cluster: cluster)
    }

    /// `PUT`: an operator edit (weight, enabled, metadata) of an instance of an existing service.
    private func update(_ parameters: V1Parameters) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: true)
        let overlay = InstanceOverlay(
            weight: try parameters.weight() ?? 1.0, enabled: enabled(parameters) ?? true,
            metadata: try parameters.metadata() ?? [:])
        let changed = try naming.store.withRegistry { (registry) throws(RegistryError) in
            try registry.editInstance(service, at: address, overlay: overlay)
        }
        naming.changes.servicesChanged(changed)
        return V1Response.ok
    }

    /// `PATCH`: changes only the given fields of an existing instance.
    private func patch(_ parameters: V1Parameters) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: true)
        let weight = try parameters.weight()
        let metadata = try parameters.metadata()
        let changed = try naming.store.withRegistry { (registry) throws(RegistryError) in
            try registry.patchInstance(
                service, at: address, weight: weight, enabled: enabled(parameters), metadata: metadata)
        }
        naming.changes.servicesChanged(changed)
        return V1Response.ok
    }

    private func detail(_ parameters: V1Parameters) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: false)
        let instance = try naming.store.read { (registry) throws(RegistryError) in
            try registry.instance(in: service, ip: address.ip, port: address.port, cluster: address.cluster)
        }
        return V1Response.json(V1JSON.instanceDetail(instance, service: service))
    }

    /// The instances of a service (2.x shape, grouped `name`). With `udpPort` (and `clientIP`)
    /// from a client that can take UDP pushes, the caller is subscribed for them.
    private func list(_ parameters: V1Parameters, userAgent: String?, context: V1RequestContext) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let clusters = parameters.optional("clusters") ?? ""
        try naming.validation.checkClusters(clusters)
        let healthyOnly = parameters.optional("healthyOnly")?.lowercased() == "true"
        let udpPort = try parameters.int("udpPort") ?? 0
        guard (0...65535).contains(udpPort) else {
            throw V1Error(.badRequest, "Param 'udpPort' is illegal, the value should be between 0 and 65535.")
        }
        if udpPort > 0, UDPPushEligibility.canPush(userAgent: userAgent),
            let clientIP = parameters.optional("clientIP") ?? context.remoteIP
        {
            let subscriber = IPPortClientID.make(ip: clientIP, port: udpPort, ephemeral: true)
            subscribeForUDPPush(subscriber, service: service, clusters: clusters)
        }
        let encoded = naming.store.encodedServiceInfo(
            service, filter: SnapshotFilter(clusters: clusters, healthyOnly: healthyOnly), style: .v1)
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
        let client = IPPortClientID.make(ip: ip, port: port, ephemeral: true)
        var outcome = naming.store.withRegistry {
            $0.heartbeat(client: client, service: service, now: monotonicMillis())
        }
        if outcome == .unknownInstance, let beat {
            // A full beat re-registers a lost instance, as Nacos does. Unlike Nacos, a beat
            // without a weight registers weight 1.0, not 0.0 (which would take no traffic).
            let instance = Instance(
                ip: ip, port: port, weight: beat.weight ?? 1.0, clusterName: cluster,
                metadata: beat.metadata?.compactMapValues(\.value) ?? [:])
            try publish(instance, into: service)
            outcome = naming.store.withRegistry {
                $0.heartbeat(client: client, service: service, now: monotonicMillis())
            }
        }
        switch outcome {
        case .unknownInstance:
            return V1Response.json(V1JSON.beat(interval: PreservedMetadata.defaultHeartbeatInterval, code: 20404))
        case .refreshed(let changed, let interval):
            naming.changes.servicesChanged(changed)
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
