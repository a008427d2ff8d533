import Foundation
import Hummingbird
import RegistrarCore

/// Asks `AccessControl` about every v1 request before it reaches its route: what the path
/// needs (nothing, a login, `r`/`w` on the service, or admin), the token (the `accessToken`
/// parameter or `Authorization: Bearer`), and whether the peer is on loopback. A refusal is a
/// 403 whose body says why and what to do. Nothing a client chooses, such as `User-Agent`,
/// counts as identity.
///
/// Threading: runs on the request's event loop.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = V1RequestContext

    let access: AccessControl
    let reader: V1ParameterReader

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // Without tokens in play (auth off, or protected mode) the path and the peer decide.
        guard access.tokensRequired else {
            let path = Self.normalized(request.uri.path)
            let decision = access.check(
                Self.openPaths.contains(path) ? .nothing : .authenticated, token: nil,
                peerIsLoopback: AccessControl.isLoopback(context.remoteIP), now: 0)
            return try await serve(request, context, decision, next)
        }
        // The route reuses the parameters read here (a form body can be read only once).
        var context = context
        let parameters = try await reader.read(request)
        context.parameters = parameters
        let decision = access.check(
            Self.need(request.method, request.uri.path, parameters), token: Self.token(request, parameters),
            peerIsLoopback: AccessControl.isLoopback(context.remoteIP), now: wallClockMillis() / 1000)
        return try await serve(request, context, decision, next)
    }

    private func serve(
        _ request: Request, _ context: Context, _ decision: AccessDecision,
        _ next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        switch decision {
        case let .allowed(username):
            var context = context
            context.username = username
            return try await next(request, context)
        case let .refused(reason):
            context.logger.info(
                "refused \(request.method) \(request.uri.path) from \(context.remoteIP ?? "?"): \(reason)")
            throw V1Error(.forbidden, reason)
        }
    }

    static func token(_ request: Request, _ parameters: V1Parameters) -> String? {
        if let token = parameters.optional("accessToken") { return token }
        guard let authorization = request.headers[.authorization] else { return nil }
        let prefix = "Bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix("bearer ") else { return nil }
        return authorization.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    }

    private static func normalized(_ path: String) -> String {
        path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    /// What a path needs. Paths not listed need a login (and then answer 404 or their own).
    static func need(_ method: HTTPRequest.Method, _ path: String, _ parameters: V1Parameters) -> AccessNeed {
        let path = normalized(path)
        if openPaths.contains(path) { return .nothing }
        let action: AccessAction = method == .get ? .read : .write
        if path == "/nacos/v1/ns/service/list" || path == "/nacos/v2/ns/service/list" {
            return .naming(resource(parameters, service: nil), .read)
        }
        // The console's naming API: what the user may do on that namespace or service.
        if path.hasPrefix(OpenAPINamingRoutes.Version.v3Console.prefix + "/") {
            let service = path.hasSuffix("/service/list") ? nil : parameters.optional("serviceName")
            return .naming(resource(parameters, service: service), action)
        }
        // The v3 admin API, client inspection and the cluster view are for operators.
        if adminPrefixes.contains(where: { path.hasPrefix($0) }) { return .admin }
        if namingPrefixes.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            return .naming(resource(parameters, service: parameters.optional("serviceName")), action)
        }
        if path == "/nacos/v1/console/namespaces" {
            return method == .get ? .authenticated : .admin
        }
        return .authenticated
    }

    private static func resource(_ parameters: V1Parameters, service: String?) -> NamingResource {
        NamingResource(
            namespace: parameters.optional("namespaceId"), group: parameters.optional("groupName"), service: service)
    }

    /// Probes, the Prometheus scrape, login, the first-admin call (which checks loopback itself)
    /// and the console's files (its pages log in themselves).
    static let openPaths: Set<String> = ConsoleAssets.paths.union(PrometheusRoutes.paths).union([
        "/nacos/v1/console/health/liveness", "/nacos/v1/console/health/readiness",
        "/nacos/v1/auth/login", "/nacos/v1/auth/users/login", "/nacos/v3/auth/user/login",
        "/nacos/v3/auth/user/admin", "/nacos/v3/admin/core/state/liveness", "/nacos/v3/admin/core/state/readiness",
    ])

    static let namingPrefixes = [
        "/nacos/v1/ns/instance", "/nacos/v1/ns/service", "/nacos/v1/ns/cluster",
        "/nacos/v2/ns/instance", "/nacos/v2/ns/service", "/nacos/v2/ns/health", "/nacos/v3/client/ns/instance",
    ]

    static let adminPrefixes = ["/nacos/v3/admin/", "/nacos/v2/ns/client", "/nacos/v2/core/"]
}
