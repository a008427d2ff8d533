import Hummingbird
import RegistrarCore
import RegistrarWire

/// The v3 client API (`/nacos/v3/client/ns/instance…`, Nacos 3.x): register, deregister and
/// list instances over the same operations as v1; answers are `Envelope`s.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct V3ClientRoutes: V1RouteGroup {
    let instances: InstanceOperations
    let reader: V1ParameterReader
    /// Cluster mode: sends registrations of another member's `ip:port` there.
    let forwarder: V1Forwarder?

    func add(to router: Router<V1RequestContext>) {
        let path = "/nacos/v3/client/ns/instance"
        InstanceWriteRoutes(instances: instances, reader: reader, forwarder: forwarder).add(path, to: router)
        let routes = self
        OpenAPIRouter(router: router, reader: reader).on(.get, path + "/list") { parameters, _ in
            try routes.instances.listAnswer(parameters)
        }
    }
}

/// `POST` and `DELETE` of an instance path: routed like v1's, by the ip:port's responsible
/// member in cluster mode, and answered `{"code":0,"data":"ok"}`.
struct InstanceWriteRoutes: Sendable {
    let instances: InstanceOperations
    let reader: V1ParameterReader
    let forwarder: V1Forwarder?

    func add(_ path: String, to router: Router<V1RequestContext>) {
        let routes = self
        for method in [HTTPRequest.Method.post, .delete] {
            router.on(RouterPath(path), method: method) { request, context in
                let parameters = try await routes.reader.read(request, context)
                if let forwarded = await routes.forwarder?.forwardToResponsibleMember(request, parameters) {
                    return forwarded
                }
                if method == .post, parameters.bool("heartBeat", default: false) {
                    // A v3 heartbeat renews a registered instance; Nacos answers an unknown one
                    // with code 21003 and HTTP 200, so that the client registers it again.
                    guard try routes.instances.renew(parameters) else {
                        return Envelope.failure(
                            V1Error(.ok, "instance not found: register it first", code: .instanceNotFound))
                    }
                } else if method == .post {
                    try await routes.instances.register(parameters)
                } else {
                    try await routes.instances.deregister(parameters)
                }
                return Envelope.ok()
            }
        }
    }
}

extension InstanceOperations {
    /// A heartbeat of the instance `ip:port` (HTTP client `ip:port#true`); false if unknown.
    func renew(_ parameters: V1Parameters) throws -> Bool {
        let service = try parameters.service(validation: naming.validation)
        let ip = try parameters.required("ip")
        return heartbeat(ip: ip, port: try parameters.port(), service: service) != .unknownInstance
    }

    /// The v3 instance list: an array of Nacos `Instance` objects (not a ServiceInfo). The admin
    /// and console lists include disabled instances (with `"enabled": false`), as Nacos's do.
    func listAnswer(_ parameters: V1Parameters, includeDisabled: Bool = false) throws -> Response {
        var (service, filter) = try listQuery(parameters)
        filter.includeDisabled = includeDisabled
        let hosts = naming.store.read { $0.snapshot(of: service, filter: filter).hosts }
        return Envelope.ok(capacity: 64 + hosts.count * 256) { json in
            json.beginArray()
            for host in hosts {
                OpenAPIJSON.instance(host.instance, service: service, ephemeral: host.ephemeral, into: &json)
            }
            json.endArray()
        }
    }
}
