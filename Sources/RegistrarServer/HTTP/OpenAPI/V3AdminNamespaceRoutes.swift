import Foundation
import Hummingbird
import Logging
import RegistrarCore
import RegistrarWire

/// `/nacos/v3/admin/core/namespace…` (Nacos 3.x): list, read, check, create, update and delete
/// namespaces, kept in the durable store. `public` always exists and cannot change. Writes
/// answer `true`; a refused one answers its reason and Nacos error code.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct V3AdminNamespaceRoutes: V1RouteGroup {
    let namespaces: NamespaceOperations
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let api = OpenAPIRouter(router: router, reader: reader)
        let path = "/nacos/v3/admin/core/namespace"
        api.on(.get, path + "/list") { _, _ in
            let list = routes.namespaces.list()
            return Envelope.ok(capacity: 64 + list.count * 192) { json in
                json.beginArray()
                for (info, count) in list {
                    V1JSON.namespace(
                        info, serviceCount: count, publicId: NamespaceInfo.publicNamespace.id, customType: 1,
                        into: &json)
                }
                json.endArray()
            }
        }
        api.on(.get, path) { parameters, _ in
            let id = try parameters.required("namespaceId")
            guard let (info, count) = routes.namespaces.find(id) else {
                throw V1Error(.notFound, "namespaceId [ \(id) ] not exist", code: .namespaceNotExist)
            }
            return Envelope.ok {
                V1JSON.namespace(
                    info, serviceCount: count, publicId: NamespaceInfo.publicNamespace.id, customType: 1, into: &$0)
            }
        }
        api.on(.get, path + "/check") { parameters, _ in
            let id = try parameters.required("namespaceId")
            // Nacos answers a count: 1 if the id is taken, else 0.
            let taken = routes.namespaces.exists(id)
            return Envelope.ok { $0.int(taken ? 1 : 0) }
        }
        api.on(.post, path) { parameters, _ in
            // Nacos 3 requires the parameter but takes a blank one to mean a random id.
            let id = parameters.optional("namespaceId") ?? UUID().uuidString.lowercased()
            let info = NamespaceInfo(
                id: id, name: try parameters.required("namespaceName"),
                description: parameters.optional("namespaceDesc") ?? "")
            try await routes.namespaces.create(info)
            return Envelope.ok(true)
        }
        api.on(.put, path) { parameters, _ in
            let info = NamespaceInfo(
                id: try parameters.required("namespaceId"), name: try parameters.required("namespaceName"),
                description: parameters.optional("namespaceDesc") ?? "")
            try await routes.namespaces.update(info)
            return Envelope.ok(true)
        }
        api.on(.delete, path) { parameters, _ in
            let id = try parameters.required("namespaceId")
            try await routes.namespaces.delete(id)
            return Envelope.ok(true)
        }
    }
}
