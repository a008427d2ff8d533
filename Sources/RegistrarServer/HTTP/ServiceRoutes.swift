import Foundation
import Hummingbird
import RegistrarCore
import RegistrarWire

/// `/nacos/v1/ns/service…`: services with stored metadata (protection threshold, metadata,
/// selector), kept in the durable store, and the service list.
///
/// Unlike Nacos 2.x, which creates every service through this API as *persistent* (so that
/// ephemeral registrations into it then fail), a created service is ephemeral unless the
/// request says `ephemeral=false`.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct ServiceRoutes: V1RouteGroup {
    let naming: NamingContext
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let path = "/nacos/v1/ns/service"
        router.post(RouterPath(path)) { request, context in
            try await routes.create(try await routes.reader.read(request, context))
        }
        router.put(RouterPath(path)) { request, context in
            try await routes.update(try await routes.reader.read(request, context))
        }
        router.delete(RouterPath(path)) { request, context in
            try await routes.delete(try await routes.reader.read(request, context))
        }
        router.get(RouterPath(path)) { request, context in
            try routes.detail(try await routes.reader.read(request, context))
        }
        router.get(RouterPath(path + "/list")) { request, context in
            try routes.list(try await routes.reader.read(request, context))
        }
    }

    private func metadata(_ parameters: V1Parameters, threshold: Double) throws -> ServiceMetadata {
        ServiceMetadata(
            protectThreshold: threshold, metadata: try parameters.metadata() ?? [:],
            selector: try selector(parameters.optional("selector")),
            ephemeral: parameters.bool("ephemeral", default: true)
        )
    }

    private func selector(_ text: String?) throws -> ServiceSelector {
        guard let text else { return .none }
        struct SelectorJSON: Decodable {
            var type: String?
            var expression: String?
        }
        guard let decoded = try? JSONDecoder().decode(SelectorJSON.self, from: Data(text.utf8)),
            let type = decoded.type?.lowercased(),
            type == "none" || type == "label"
        else {
            throw V1Error(
                .badRequest,
                "not match any type of selector! (expected {\"type\":\"none\"} or {\"type\":\"label\",\"expression\":…})"
            )
        }
        return ServiceSelector(type: type, expression: type == "label" ? decoded.expression : nil)
    }

    /// Service writes are durable: answered once on disk.
    private func create(_ parameters: V1Parameters) async throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let metadata = try metadata(parameters, threshold: try parameters.double("protectThreshold") ?? 0)
        try await naming.write(.createService(service, metadata: metadata))
        return V1Response.ok
    }

    private func update(_ parameters: V1Parameters) async throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        guard let threshold = try parameters.double("protectThreshold") else {
            throw V1Error(.badRequest, "Param 'protectThreshold' is required.")
        }
        let metadata = try metadata(parameters, threshold: threshold)
        try await naming.write(.updateService(service, metadata: metadata))
        return V1Response.ok
    }

    private func delete(_ parameters: V1Parameters) async throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        try await naming.write(.deleteService(service))
        return V1Response.ok
    }

    private func detail(_ parameters: V1Parameters) throws -> Response {
        let service = try parameters.service(validation: naming.validation)
        let detail = try naming.store.read { (registry) throws(RegistryError) in try registry.serviceDetail(service) }
        return V1Response.json(V1JSON.serviceDetail(detail))
    }

    private func list(_ parameters: V1Parameters) throws -> Response {
        let pageNo = try parameters.int("pageNo") ?? { throw V1Error(.badRequest, "Param 'pageNo' is required.") }()
        let pageSize =
            try parameters.int("pageSize") ?? { throw V1Error(.badRequest, "Param 'pageSize' is required.") }()
        guard (1...10_000).contains(pageSize) else {
            throw V1Error(.badRequest, "Param 'pageSize' is illegal, the value should be between 1 and 10000.")
        }
        let namespace = ServiceKey.normalizedNamespace(parameters.optional("namespaceId"))
        let group = parameters.optional("groupName") ?? ServiceKey.defaultGroup
        try naming.validation.checkNamespace(namespace)
        try naming.validation.checkGroup(group)
        let (count, names) = naming.store.read {
            $0.listServices(namespace: namespace, group: group, pageNo: max(1, pageNo), pageSize: pageSize)
        }
        return V1Response.json(V1JSON.serviceList(count: count, names: names))
    }
}
