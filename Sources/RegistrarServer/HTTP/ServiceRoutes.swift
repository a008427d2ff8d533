import Foundation
import Hummingbird
import RegistrarCore
import RegistrarWire

/// `/nacos/v1/ns/service…`: the v1 paths of `ServiceOperations`.
///
/// Threading: handlers run on the request's event loop; the registry is behind its lock.
struct ServiceRoutes: V1RouteGroup {
    let operations: ServiceOperations
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        let path = "/nacos/v1/ns/service"
        router.post(RouterPath(path)) { request, context in
            try await routes.operations.create(try await routes.reader.read(request, context))
            return V1Response.ok
        }
        router.put(RouterPath(path)) { request, context in
            try await routes.operations.update(try await routes.reader.read(request, context), thresholdRequired: true)
            return V1Response.ok
        }
        router.delete(RouterPath(path)) { request, context in
            try await routes.operations.delete(try await routes.reader.read(request, context))
            return V1Response.ok
        }
        router.get(RouterPath(path)) { request, context in
            V1Response.json(
                V1JSON.serviceDetail(try routes.operations.detail(try await routes.reader.read(request, context))))
        }
        router.get(RouterPath(path + "/list")) { request, context in
            try routes.list(try await routes.reader.read(request, context))
        }
    }

    private func list(_ parameters: V1Parameters) throws -> Response {
        let (count, names) = operations.list(try operations.listQuery(parameters, defaultPage: nil))
        return V1Response.json(V1JSON.serviceList(count: count, names: names))
    }
}
