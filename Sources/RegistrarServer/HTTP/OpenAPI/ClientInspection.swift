import Hummingbird
import RegistrarCore
import RegistrarWire

/// The client-inspection endpoints, served under both `/nacos/v2/ns/client` and
/// `/nacos/v3/admin/ns/client`: which clients exist, what each publishes and subscribes to,
/// and who publishes or subscribes to a service.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct ClientInspectionRoutes: V1RouteGroup {
    let naming: NamingContext
    let reader: V1ParameterReader
    /// What the gRPC front knows of a connection client (nil for other clients, or gone).
    let connection: @Sendable (ClientID) async -> ConnectionSummary?

    func add(to router: Router<V1RequestContext>) {
        let api = OpenAPIRouter(router: router, reader: reader)
        add("/nacos/v2/ns/client", v3: false, api)
        add("/nacos/v3/admin/ns/client", v3: true, api)
    }

    /// 2.x and 3.x answer with the same data under different keys (see `OpenAPIJSON`).
    private func add(_ prefix: String, v3: Bool, _ api: OpenAPIRouter) {
        let routes = self
        api.on(.get, prefix + "/list") { _, _ in
            let ids = routes.naming.store.read { $0.clientIds() }
            return Envelope.ok(capacity: 64 + ids.count * 40) { json in
                json.beginArray()
                for id in ids { json.string(id) }
                json.endArray()
            }
        }
        api.on(.get, prefix) { parameters, _ in
            let view = try routes.client(parameters)
            let summary = view.kind == .connection ? await routes.connection(view.id) : nil
            return Envelope.ok { OpenAPIJSON.client(view, connection: summary, v3: v3, into: &$0) }
        }
        api.on(.get, prefix + "/publish/list") { parameters, _ in
            let view = try routes.client(parameters)
            return Envelope.ok { json in
                json.beginArray()
                for (service, instances) in view.publications.sorted(by: { $0.key.groupedName < $1.key.groupedName }) {
                    for instance in instances {
                        json.beginObject()
                        OpenAPIJSON.serviceFields(service, v3: v3, into: &json)
                        if v3 { json.key("publisherInfo") } else { json.key("registeredInstance") }
                        json.beginObject()
                        json.key("ip"); json.string(instance.ip)
                        json.key("port"); json.int(instance.port)
                        if v3 { json.key("clusterName") } else { json.key("cluster") }
                        json.string(instance.clusterName)
                        json.endObject()
                        json.endObject()
                    }
                }
                json.endArray()
            }
        }
        api.on(.get, prefix + "/subscribe/list") { parameters, _ in
            let view = try routes.client(parameters)
            return Envelope.ok { json in
                json.beginArray()
                for service in view.subscriptions.sorted(by: { $0.groupedName < $1.groupedName }) {
                    json.beginObject()
                    OpenAPIJSON.serviceFields(service, v3: v3, into: &json)
                    json.endObject()
                }
                json.endArray()
            }
        }
        api.on(.get, prefix + "/service/publisher/list") { parameters, _ in
            let service = try parameters.service(validation: routes.naming.validation)
            let publishers = routes.naming.store.read { $0.publishers(of: service) }
            let ip = parameters.optional("ip")
            let port = try parameters.int("port")
            return Envelope.ok { json in
                json.beginArray()
                for (client, instances) in publishers {
                    for instance in instances
                    where (ip == nil || instance.ip == ip) && (port == nil || instance.port == port) {
                        json.beginObject()
                        json.key("clientId"); json.string(client)
                        json.key("ip"); json.string(instance.ip)
                        json.key("port"); json.int(instance.port)
                        if v3 { json.key("clusterName") } else { json.key("cluster") }
                        json.string(instance.clusterName)
                        json.endObject()
                    }
                }
                json.endArray()
            }
        }
        api.on(.get, prefix + "/service/subscriber/list") { parameters, _ in
            let service = try parameters.service(validation: routes.naming.validation)
            let subscribers = routes.naming.store.read { $0.subscribers(of: service) }.sorted { $0.client < $1.client }
            return Envelope.ok { json in
                json.beginArray()
                for subscriber in subscribers {
                    let (ip, port) = ClientAddress.of(subscriber.client)
                    json.beginObject()
                    json.key("clientId"); json.string(subscriber.client)
                    if v3 {
                        json.key("address"); json.string("\(ip):\(port)")
                    } else {
                        json.key("ip"); json.string(ip)
                        json.key("port"); json.int(port)
                    }
                    json.key("clusters"); json.string(subscriber.clusters)
                    json.endObject()
                }
                json.endArray()
            }
        }
    }

    private func client(_ parameters: V1Parameters) throws -> Registry.ClientView {
        let id = try parameters.required("clientId")
        guard let view = naming.store.read({ $0.client(id) }) else {
            throw V1Error(.notFound, "clientId [ \(id) ] not exist", code: .resourceNotFound)
        }
        return view
    }
}
