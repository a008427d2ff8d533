import CoreMetrics
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RegistrarCore
import RegistrarTransport
import ServiceLifecycle
import Synchronization

/// The request context of the v1 front: Hummingbird's core storage plus the channel, for the
/// caller's address.
struct V1RequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// The logged-in user, once `AccessMiddleware` has checked the token; nil when no identity
    /// was needed (auth off, probes, a loopback peer in protected mode).
    var username: String?
    /// The parameters, once `AccessMiddleware` has read them (routes then reuse them).
    var parameters: V1Parameters?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    var remoteIP: String? { channel.remoteAddress?.ipAddress }
}

/// A set of v1 routes, each given exactly what it uses by the composition root.
protocol V1RouteGroup: Sendable {
    func add(to router: Router<V1RequestContext>)
}

/// Reads a request's parameters: the query string, plus a form body (bounded).
struct V1ParameterReader: Sendable {
    let maximumBodySize: Int

    /// The parameters `AccessMiddleware` already read, or else read now.
    func read(_ request: Request, _ context: V1RequestContext) async throws -> V1Parameters {
        if let parameters = context.parameters { return parameters }
        return try await read(request)
    }

    func read(_ request: Request) async throws -> V1Parameters {
        let contentType = request.headers[.contentType]?.lowercased()
        var form: String?
        var ignoredBodyType: String?
        if let contentType, contentType.hasPrefix("application/x-www-form-urlencoded") {
            let body = try await request.body.collect(upTo: maximumBodySize)
            form = String(buffer: body)
        } else if let contentType, contentType.contains("json") {
            ignoredBodyType = "JSON"
        }
        var parameters = V1Parameters(query: request.uri.query, form: form)
        parameters.ignoredBodyType = ignoredBodyType
        return parameters
    }
}

/// The v1 HTTP front on port P (Hummingbird): the Nacos v1 naming Open API, health probes,
/// metrics and login, over the same registry as the gRPC front.
///
/// Threading: `start`/`stop` are called once each; handlers run on Hummingbird's event loops.
final class V1Front: Sendable {
    struct Settings: Sendable {
        var host: String
        var port: Int
        /// An HTTP keep-alive connection idle this long is closed.
        var idleTimeout: TimeAmount
        /// A new connection's first request headers must arrive within this.
        var headerTimeout: TimeAmount
        /// HTTPS, when set; plaintext too if `acceptsPlaintext`.
        var tls: (context: NIOSSLContext, acceptsPlaintext: Bool)?
    }

    /// Connections closed for want of a complete request head in time.
    final class Counters: Sendable {
        let headerTimeouts: Counter

        init(metrics: RegistrarMetrics) {
            headerTimeouts = metrics.counter(NodeCounters.Series.httpHeaderTimeouts)
        }
    }

    private let settings: Settings
    private let readiness: Readiness
    private let routes: [any V1RouteGroup]
    private let access: AccessMiddleware
    private let counters: Counters
    private let requests: RequestMetrics
    private let logger: Logger
    /// The running server, from `start` to `stop`.
    private let running = Mutex<(ServiceGroup, Task<Void, Never>)?>(nil)
    private let bound = Mutex<SocketAddress?>(nil)

    init(
        settings: Settings, readiness: Readiness, access: AccessMiddleware, routes: [any V1RouteGroup],
        requests: RequestMetrics, counters: Counters, logger: Logger
    ) {
        self.requests = requests
        self.counters = counters
        self.settings = settings
        self.readiness = readiness
        self.access = access
        self.routes = routes
        self.logger = logger
    }

    var localAddress: SocketAddress? { bound.withLock { $0 } }

    /// Binds and serves; returns once listening, or throws the bind error.
    func start(group: any EventLoopGroup) async throws {
        let router = Router(context: V1RequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: requests))
        router.add(middleware: V1ErrorMiddleware())
        router.add(middleware: ReadinessMiddleware(readiness: readiness))
        router.add(middleware: access)
        for group in routes { group.add(to: router) }
        let (headerTimeout, counters) = (settings.headerTimeout, self.counters)

        let (started, continuation) = AsyncStream.makeStream(of: Result<SocketAddress?, any Error>.self)
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                FirstReadDeadline(timeout: headerTimeout) { counters.headerTimeouts.increment() }
            ],
            idleTimeout: settings.idleTimeout)
        let tls = settings.tls
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                let channel = HTTP1Channel(responder: responder, configuration: http1)
                guard let tls else { return channel }
                return HTTPSChannel(base: channel, tls: tls.context, acceptsPlaintext: tls.acceptsPlaintext)
            },
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "Registrar"),
            onServerRunning: { channel in continuation.yield(.success(channel.localAddress)) },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        // A service group of its own, so that stop() can shut the server down gracefully
        // (signals are handled by the process's group, not here).
        let serviceGroup = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            do {
                try await serviceGroup.run()
                continuation.yield(.failure(StartupError("the HTTP server stopped before it started")))
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        running.withLock { $0 = (serviceGroup, task) }
        for await result in started {
            let address = try result.get()
            bound.withLock { $0 = address }
            return
        }
    }

    func stop() async {
        guard let (serviceGroup, task) = running.withLock({ $0.take() }) else { return }
        await serviceGroup.triggerGracefulShutdown()
        await task.value
    }

    /// The address a node bound to `host` reports as itself (`/v1/core/cluster/nodes`).
    static func advertisedIP(host: String) -> String {
        guard host == "0.0.0.0" || host == "::" else { return host }
        let devices = (try? System.enumerateDevices()) ?? []
        let external = devices.compactMap { device -> String? in
            guard let address = device.address, address.protocol == .inet, let ip = address.ipAddress,
                !ip.hasPrefix("127.")
            else { return nil }
            return ip
        }
        return external.first ?? "127.0.0.1"
    }
}

/// While the node is not ready (starting, or loading state), naming calls answer 503 as Nacos
/// does, so clients retry rather than read an empty registry. Probes and login still answer.
struct ReadinessMiddleware<Context: RequestContext>: RouterMiddleware {
    let readiness: Readiness

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        if !readiness.isReady, namingPathPrefixes.contains(where: { path.hasPrefix($0) }),
            !path.hasSuffix("/operator/metrics"), !path.hasSuffix("/ops/metrics")
        {
            let message = "server is STARTINGnow, please try again later!"
            guard Envelope.isUsed(by: path) else { return V1Response.text(message, status: .serviceUnavailable) }
            return Envelope.failure(V1Error(.serviceUnavailable, message, code: .serverError))
        }
        return try await next(request, context)
    }
}

/// The naming APIs, which answer 503 until the node is ready.
private let namingPathPrefixes = [
    "/nacos/v1/ns/", "/nacos/v2/ns/", "/nacos/v3/client/ns/", "/nacos/v3/admin/ns/", "/nacos/v3/console/ns/",
]

/// The HTTP/1 channel behind TLS: always (`NIOSSLServerHandler`), or when the client speaks it
/// (`TLSSniffer`, the `optional` mode).
struct HTTPSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let tls: NIOSSLContext
    let acceptsPlaintext: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let handler: any ChannelHandler =
                acceptsPlaintext ? TLSSniffer(tls: tls) : NIOSSLServerHandler(context: tls)
            try channel.pipeline.syncOperations.addHandler(handler)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
