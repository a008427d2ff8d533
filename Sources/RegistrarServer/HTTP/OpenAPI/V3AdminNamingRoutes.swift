import Hummingbird
import RegistrarCore
import RegistrarWire

/// What the v3 admin API adds to the shared naming endpoints (`OpenAPINamingRoutes`): a
/// service's subscribers (also on the console's paths), the health checkers on offer, and the node's metrics.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct V3AdminNamingRoutes: V1RouteGroup {
    let naming: NamingContext
    let metrics: NodeMetrics
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let api = OpenAPIRouter(router: router, reader: reader)
        for version in [OpenAPINamingRoutes.Version.v3Admin, .v3Console] {
            api.on(.get, version.prefix + "/service/subscribers") { parameters, _ in
                try routes.subscribers(parameters)
            }
        }
        api.on(.get, "/nacos/v3/admin/ns/health/checkers") { _, _ in
            Envelope.ok { json in
                json.beginObject()
                for kind in [HealthCheckSpec.Kind.tcp, .http, .none] {
                    json.dynamicKey(kind.rawValue); OpenAPIJSON.healthChecker(HealthCheckSpec(kind: kind), into: &json)
                }
                json.endObject()
            }
        }
        api.on(.get, "/nacos/v3/admin/ns/ops/metrics") { parameters, _ in
            Envelope.ok(raw: routes.metrics.json(full: !parameters.bool("onlyStatus", default: true)))
        }
    }

    /// A Page of Nacos `SubscriberInfo`s. A gRPC subscriber's address is read from its
    /// connection id (`<millis>_<ip>_<port>`), a v1 UDP subscriber's from `ip:port#true`.
    private func subscribers(_ parameters: V1Parameters) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let page = try Page(parameters)
        let subscribers = naming.store.read { $0.subscribers(of: service) }.map(\.client).sorted()
        return Envelope.ok(capacity: 128 + min(subscribers.count, page.pageSize) * 160) { json in
            page.write(subscribers, into: &json) { json, client in
                let (ip, port) = ClientAddress.of(client)
                json.beginObject()
                json.key("namespaceId"); json.string(service.namespace)
                json.key("groupName"); json.string(service.group)
                json.key("serviceName"); json.string(service.name)
                json.key("ip"); json.string(ip)
                json.key("port"); json.int(port)
                json.key("address"); json.string("\(ip):\(port)")
                json.key("clientId"); json.string(client)
                json.endObject()
            }
        }
    }
}
