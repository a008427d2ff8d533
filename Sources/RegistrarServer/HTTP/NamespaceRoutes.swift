import Foundation
import Hummingbird
import Logging
import RegistrarCore
import RegistrarWire

/// `/nacos/v1/console/namespaces`: list, read, create, update and delete namespaces, kept in
/// the durable store. `public` always exists and cannot change.
///
/// Writes answer `true` as Nacos's console API does; a refused write answers 4xx with the
/// reason rather than Nacos's bare `false`, so scripts can tell why.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct NamespaceRoutes: V1RouteGroup {
    let naming: NamingContext
    let reader: V1ParameterReader
    let logger: Logger

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let path = RouterPath("/nacos/v1/console/namespaces")
        router.get(path) { request, context in try routes.read(try await routes.reader.read(request, context)) }
        router.post(path) { request, context in try await routes.create(try await routes.reader.read(request, context))
        }
        router.put(path) { request, context in try await routes.update(try await routes.reader.read(request, context)) }
        router.delete(path) { request, context in
            try await routes.delete(try await routes.reader.read(request, context))
        }
    }

    private static func answer(_ value: Bool) -> Response { V1Response.json(Array(String(value).utf8)) }

    private func read(_ parameters: V1Parameters) throws -> Response {
        if parameters.bool("checkNamespaceIdExist", default: false) {
            let id = try parameters.required("customNamespaceId")
            let exists = naming.store.read { $0.namespace(id) != nil }
            return Self.answer(exists)
        }
        if let id = parameters.optional("namespaceId") {
            let found = naming.store.read { registry in
                registry.namespace(id).map { ($0, registry.serviceCount(inNamespace: $0.id)) }
            }
            guard let (info, count) = found else { throw V1Error(.notFound, "namespaceId [ \(id) ] not exist") }
            return V1Response.json(V1JSON.namespace(info, serviceCount: count))
        }
        let list = naming.store.read { registry in
            registry.namespaceList().map { ($0, registry.serviceCount(inNamespace: $0.id)) }
        }
        return V1Response.json(V1JSON.namespaceList(list))
    }

    /// A blank `customNamespaceId` gets a random UUID, as in Nacos.
    private func create(_ parameters: V1Parameters) async throws -> Response {
        let id = parameters.optional("customNamespaceId") ?? UUID().uuidString.lowercased()
        let info = NamespaceInfo(
            id: id, name: try parameters.required("namespaceName"),
            description: parameters.optional("namespaceDesc") ?? "")
        try await naming.write(.createNamespace(info))
        logger.info("namespace created", metadata: ["namespace": "\(id)", "name": "\(info.name)"])
        return Self.answer(true)
    }

    private func update(_ parameters: V1Parameters) async throws -> Response {
        let info = NamespaceInfo(
            id: try parameters.required("namespace"), name: try parameters.required("namespaceShowName"),
            description: parameters.optional("namespaceDesc") ?? ""
        )
        try await naming.write(.updateNamespace(info))
        return Self.answer(true)
    }

    private func delete(_ parameters: V1Parameters) async throws -> Response {
        let id = try parameters.required("namespaceId")
        try await naming.write(.deleteNamespace(id))
        logger.info("namespace deleted", metadata: ["namespace": "\(id)"])
        return Self.answer(true)
    }
}
