import Hummingbird
import RegistrarCore
import RegistrarWire

/// The naming endpoints of the v2 Open API (`/nacos/v2/ns/…`, Nacos 2.x) and of the v3 admin
/// API (`/nacos/v3/admin/ns/…`, Nacos 3.x), over the same operations as v1; answers are
/// `Envelope`s. The two differ only in their lists (v2: a ServiceInfo and `{count, services}`;
/// v3: an array of instances and a Page of services) and in what v3 adds (`partial`, `cluster`,
/// `subscribers`, `health/checkers`, `ops/metrics`). The console's API (`/nacos/v3/console/ns/…`,
/// Nacos 3's console paths) is the v3 admin one, checked per service rather than for admins.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct OpenAPINamingRoutes: V1RouteGroup {
    enum Version: Sendable {
        case v2, v3Admin, v3Console

        var prefix: String {
            switch self {
            case .v2: "/nacos/v2/ns"
            case .v3Admin: "/nacos/v3/admin/ns"
            case .v3Console: "/nacos/v3/console/ns"
            }
        }
    }

    let version: Version
    let instances: InstanceOperations
    let services: ServiceOperations
    let reader: V1ParameterReader
    /// Cluster mode: sends registrations of another member's `ip:port` there.
    let forwarder: V1Forwarder?

    private var prefix: String { version.prefix }

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let api = OpenAPIRouter(router: router, reader: reader)
        let instance = prefix + "/instance"
        InstanceWriteRoutes(instances: instances, reader: reader, forwarder: forwarder).add(instance, to: router)
        api.on(.put, instance) { parameters, _ in
            try routes.instances.update(parameters)
            return Envelope.ok()
        }
        api.on(.get, instance) { parameters, _ in
            let (found, service) = try routes.instances.detail(parameters)
            guard routes.version == .v2 else {
                return Envelope.ok { OpenAPIJSON.instance(found, service: service, ephemeral: nil, into: &$0) }
            }
            return Envelope.ok(raw: OpenAPIJSON.instanceDetail(found, service: service))
        }
        api.on(.get, instance + "/list") { parameters, _ in
            guard routes.version == .v2 else {
                return try routes.instances.listAnswer(parameters, includeDisabled: true)
            }
            let (service, filter) = try routes.instances.listQuery(parameters)
            // Nacos's HTTP ServiceInfo names the service grouped, as v1 does.
            let encoded = routes.instances.naming.store.encodedServiceInfo(service, filter: filter, style: .v1)
            return Envelope.ok(raw: encoded.json)
        }
        for (method, merge) in [(HTTPRequest.Method.put, true), (.delete, false)] {
            api.on(method, instance + "/metadata/batch") { parameters, _ in
                let updated = try routes.instances.batchMetadata(parameters, merge: merge)
                return Envelope.ok { json in
                    json.beginObject()
                    json.key("updated"); json.beginArray()
                    for key in updated { json.string(key) }
                    json.endArray()
                    json.endObject()
                }
            }
        }
        // v2 also answers the bare `/health`.
        for path in version == .v2 ? ["/health/instance", "/health"] : ["/health/instance"] {
            api.on(.put, prefix + path) { parameters, _ in
                try routes.instances.markHealth(parameters)
                return Envelope.ok()
            }
        }
        if version != .v2 {
            api.on(.put, instance + "/partial") { parameters, _ in
                try routes.instances.patch(parameters)
                return Envelope.ok()
            }
        }
        addServices(api)
    }

    private func addServices(_ api: OpenAPIRouter) {
        let routes = self
        let service = prefix + "/service"
        api.on(.post, service) { parameters, _ in
            try await routes.services.create(parameters)
            return Envelope.ok()
        }
        api.on(.put, service) { parameters, _ in
            try await routes.services.update(parameters, thresholdRequired: false)
            return Envelope.ok()
        }
        api.on(.delete, service) { parameters, _ in
            try await routes.services.delete(parameters)
            return Envelope.ok()
        }
        api.on(.get, service) { parameters, _ in
            Envelope.ok(
                raw: OpenAPIJSON.serviceDetail(try routes.services.detail(parameters), v3: routes.version != .v2))
        }
        api.on(.get, service + "/list") { parameters, _ in
            guard routes.version == .v2 else { return try routes.services.serviceViewPage(parameters) }
            let (count, names) = routes.services.list(try routes.services.listQuery(parameters, defaultPage: (1, 20)))
            return Envelope.ok { json in
                json.beginObject()
                json.key("count"); json.int(count)
                json.key("services"); json.beginArray()
                for name in names { json.string(name) }
                json.endArray()
                json.endObject()
            }
        }
    }
}
