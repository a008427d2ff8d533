import Hummingbird
import Logging
import NIOCore
import NIOPosix
import RegistrarCore
import ServiceLifecycle
import Synchronization

/// The request context of the v1 front: Hummingbird's core storage plus the channel, for the
/// caller's address.
struct V1RequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    var remoteIP: String? { channel.remoteAddress?.ipAddress }
}

/// The v1 HTTP front on port P (Hummingbird): the Nacos v1 naming Open API, health probes,
/// metrics and login, over the same registry as the gRPC front.
///
/// Threading: `start`/`stop` are called once each; handlers run on Hummingbird's event loops.
final class V1Front: Sendable {
    let runtime: NamingRuntime
    /// The address reported as this node (`/v1/core/cluster/nodes`).
    let advertisedIP: String
    private let logger: Logger
    private let running = Mutex<(ServiceGroup, Task<Void, Never>)?>(nil)
    private let bound = Mutex<SocketAddress?>(nil)

    init(runtime: NamingRuntime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
        let host = runtime.configuration.host
        self.advertisedIP = host == "0.0.0.0" || host == "::" ? V1Front.firstExternalIPv4() ?? "127.0.0.1" : host
    }

    var localAddress: SocketAddress? { bound.withLock { $0 } }

    /// Binds and serves; returns once listening, or throws the bind error.
    func start(group: any EventLoopGroup) async throws {
        let router = Router(context: V1RequestContext.self)
        router.add(middleware: V1ErrorMiddleware())
        router.add(middleware: ReadinessMiddleware(runtime: runtime))
        InstanceRoutes(front: self).add(to: router)
        ServiceRoutes(front: self).add(to: router)
        OperatorRoutes(front: self).add(to: router)
        ClusterRoutes(front: self).add(to: router)
        NamespaceRoutes(front: self).add(to: router)

        let configuration = runtime.configuration
        let (started, continuation) = AsyncStream.makeStream(of: Result<SocketAddress?, any Error>.self)
        let application = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: configuration.httpIdleTimeout)),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Registrar"),
            onServerRunning: { channel in continuation.yield(.success(channel.localAddress)) },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        // A service group of its own, so that stop() can shut the server down gracefully
        // (signals are handled by the process's group, not here).
        let serviceGroup = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger))
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

    /// Reads a request's parameters: the query string, plus a form body (bounded).
    func parameters(_ request: Request) async throws -> V1Parameters {
        let contentType = request.headers[.contentType]?.lowercased()
        var form: String?
        var ignoredBodyType: String?
        if let contentType, contentType.hasPrefix("application/x-www-form-urlencoded") {
            let body = try await request.body.collect(upTo: runtime.configuration.maximumHTTPBodySize)
            form = String(buffer: body)
        } else if let contentType, contentType.contains("json") {
            ignoredBodyType = "JSON"
        }
        var parameters = V1Parameters(query: request.uri.query, form: form)
        parameters.ignoredBodyType = ignoredBodyType
        return parameters
    }

    /// Subscribes a v1 client's UDP address to `service` (renewing its lease), and pushes the
    /// current data at once the first time.
    func subscribeForUDPPush(_ client: ClientID, service: ServiceKey, clusters: String) {
        let now = monotonicMillis()
        let firstTime = try? runtime.store.withRegistry { (registry) throws(RegistryError) in
            try registry.subscribeLeased(client, to: service, clusters: clusters, now: now)
        }
        if firstTime == true {
            runtime.push.pushOverUDP(to: client, service: service, clusters: clusters)
        }
    }

    private static func firstExternalIPv4() -> String? {
        let devices = (try? System.enumerateDevices()) ?? []
        return devices.compactMap { device -> String? in
            guard let address = device.address, address.protocol == .inet, let ip = address.ipAddress, !ip.hasPrefix("127.") else { return nil }
            return ip
        }.first
    }
}

/// While the node is not ready (starting, or loading state), naming calls answer 503 as Nacos
/// does, so clients retry rather than read an empty registry. Probes and login still answer.
struct ReadinessMiddleware<Context: RequestContext>: RouterMiddleware {
    let runtime: NamingRuntime

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !runtime.ready.load(ordering: .relaxed), request.uri.path.hasPrefix("/nacos/v1/ns/"), !request.uri.path.hasSuffix("/operator/metrics") {
            return V1Response.text("server is STARTINGnow, please try again later!", status: .serviceUnavailable)
        }
        return try await next(request, context)
    }
}
