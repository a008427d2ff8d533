import Foundation
import Hummingbird
import RegistrarCore

/// `PUT /nacos/v1/ns/cluster` (and `/nacos/v3/admin/ns/cluster`): the health check of one
/// cluster of a service, used for its persistent instances and kept in the durable store.
///
/// `healthChecker` is Nacos's JSON: `{"type":"TCP"}` (the default), `{"type":"HTTP",
/// "path":"/health","expectedResponseCode":200}` or `{"type":"NONE"}`. Unlike Nacos, probes
/// always go to the instance's own registered port: `checkPort` and `useInstancePort4Check`
/// are accepted and ignored, so the API cannot aim probes at other ports.
///
/// Threading: handlers run on the request's event loop.
struct ClusterRoutes: V1RouteGroup {
    let naming: NamingContext
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        router.put(RouterPath("/nacos/v1/ns/cluster")) { request, context in
            try await routes.update(try await routes.reader.read(request, context))
            return V1Response.ok
        }
        router.put(RouterPath("/nacos/v3/admin/ns/cluster")) { request, context in
            try await routes.update(try await routes.reader.read(request, context))
            return Envelope.ok()
        }
    }

    private struct CheckerJSON: Decodable {
        var type: String?
        var path: String?
        var expectedResponseCode: Int?
    }

    private func update(_ parameters: V1Parameters) async throws {
        let service = try parameters.service(validation: naming.validation)
        let cluster = try parameters.required("clusterName")
        var check = HealthCheckSpec.tcp
        if let text = parameters.optional("healthChecker") {
            guard let decoded = try? JSONDecoder().decode(CheckerJSON.self, from: Data(text.utf8)),
                let kind = HealthCheckSpec.Kind(rawValue: (decoded.type ?? "").uppercased())
            else {
                throw V1Error(
                    .badRequest,
                    "Param 'healthChecker' is illegal: expected {\"type\":\"TCP\"}, {\"type\":\"HTTP\",\"path\":\"/…\"} or {\"type\":\"NONE\"}, got \(text)"
                )
            }
            check = HealthCheckSpec(kind: kind, path: decoded.path ?? "/", expectedStatus: decoded.expectedResponseCode)
        }
        try await naming.write(.setHealthCheck(check, of: service, cluster: cluster))
    }
}
