import HTTPTypes
import Hummingbird

/// Registers a handler that takes the request's parameters (query string and form body, read
/// once) — the shape of every v2 and v3 endpoint.
struct OpenAPIRouter {
    let router: Router<V1RequestContext>
    let reader: V1ParameterReader

    func on(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (V1Parameters, V1RequestContext) async throws -> Response
    ) {
        let reader = self.reader
        router.on(RouterPath(path), method: method) { request, context in
            try await handler(try await reader.read(request, context), context)
        }
    }
}
