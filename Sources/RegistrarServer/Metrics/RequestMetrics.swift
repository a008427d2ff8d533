import CoreMetrics
import Hummingbird
import Synchronization

/// `registrar_requests_total{type,result}` and `registrar_request_duration_seconds{type}`. A
/// gRPC request's type is its `metadata.type`; the handles of every type served are made up
/// front, so the hot path only looks one up. An HTTP request's type is its method and matched
/// route (`GET /nacos/v1/ns/instance/list`), made on first use, at most `maximumRoutes` of them.
///
/// Threading: thread-safe.
package final class RequestMetrics: Sendable {
    package struct Handles: Sendable {
        let ok: Counter
        let error: Counter
        let duration: CoreMetrics.Timer

        package func record(ok succeeded: Bool, since start: ContinuousClock.Instant) {
            (succeeded ? ok : error).increment()
            duration.record(since: start)
        }
    }

    static let maximumRoutes = 256
    private let metrics: RegistrarMetrics
    private let grpcTypes: [String: Handles]
    private let unknownGRPC: Handles
    private let routes = Mutex<[String: Handles]>([:])

    /// Handles for every request type the gRPC front serves.
    package init(metrics: RegistrarMetrics) {
        self.metrics = metrics
        var handles: [String: Handles] = [:]
        for type in Array(RequestDispatcher.responseTypes.keys) + ["ServerCheckRequest"] {
            handles[type] = Self.make(metrics, type)
        }
        self.grpcTypes = handles
        unknownGRPC = Self.make(metrics, "unknown")
    }

    package func grpc(_ type: String) -> Handles {
        grpcTypes[type] ?? unknownGRPC
    }

    func http(_ route: String) -> Handles {
        routes.withLock { routes in
            if let handles = routes[route] { return handles }
            let name = routes.count < Self.maximumRoutes ? route : "HTTP other"
            let handles = routes[name] ?? Self.make(metrics, name)
            routes[route] = handles
            return handles
        }
    }

    private static func make(_ metrics: RegistrarMetrics, _ type: String) -> Handles {
        Handles(
            ok: metrics.counter(MetricName.requests, [("type", type), ("result", "ok")]),
            error: metrics.counter(MetricName.requests, [("type", type), ("result", "error")]),
            duration: metrics.timer(MetricName.requestDuration, [("type", type)]))
    }
}

/// Counts and times every HTTP request by its route; outermost, so that it sees the status
/// errors are answered with. Paths that match no route count as `unmatched`, whatever they are.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, ok: response.status.code < 400, since: start)
            return response
        } catch {
            record(request, context, ok: false, since: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, ok: Bool, since start: ContinuousClock.Instant) {
        let route = context.endpointPath ?? "unmatched"
        metrics.http("\(request.method) \(route)").record(ok: ok, since: start)
    }
}
