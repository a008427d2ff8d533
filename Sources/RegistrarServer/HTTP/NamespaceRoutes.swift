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
    let namespaces: NamespaceOperations
    let reader: V1ParameterReader

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
            return Self.answer(namespaces.exists(try parameters.required("customNamespaceId")))
        }
        if let id = parameters.optional("namespaceId") {
            guard let (info, count) = namespaces.find(id) else {
                throw V1Error(.notFound, "namespaceId [ \(id) ] not exist")
            }
            return V1Response.json(V1JSON.namespace(info, serviceCount: count))
        }
        return V1Response.json(V1JSON.namespaceList(namespaces.list()))
    }

    /// A blank `customNamespaceId` gets a random UUID, as in Nacos.
    private func create(_ parameters: V1Parameters) async throws -> Response {
        let id = parameters.optional("customNamespaceId") ?? UUID().uuidString.lowercased()
        try await namespaces.create(
            NamespaceInfo(
                id: id, name: try parameters.required("namespaceName"),
                description: parameters.optional("namespaceDesc") ?? ""))
        return Self.answer(true)
    }

    private func update(_ parameters: V1Parameters) async throws -> Response {
        try await namespaces.update(
            NamespaceInfo(
                id: try parameters.required("namespace"), name: try parameters.required("namespaceShowName"),
                description: parameters.optional("namespaceDesc") ?? ""))
        return Self.answer(true)
    }

    private func delete(_ parameters: V1Parameters) async throws -> Response {
        try await namespaces.delete(try parameters.required("namespaceId"))
        return Self.answer(true)
    }
}
