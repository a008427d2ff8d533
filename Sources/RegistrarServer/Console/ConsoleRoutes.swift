import Hummingbird
import NIOCore
import RegistrarCore
import RegistrarWire
import Synchronization

/// The web console: its files at `/nacos/`, who the user is and what they may change
/// (`/nacos/v3/console/me`), and the live feed (`/nacos/v3/console/events`). Its data comes
/// from the console's naming API (`OpenAPINamingRoutes`, `.v3Console`) and the v1 namespace
/// and cluster endpoints, each checked by `AccessMiddleware` like any other call.
///
/// Threading: handlers run on the request's event loop.
struct ConsoleRoutes: V1RouteGroup {
    let assets: ConsoleAssets
    let events: ConsoleEvents
    let rates: ConsoleRateFeed
    let access: AccessControl
    let reader: V1ParameterReader

    func add(to router: Router<V1RequestContext>) {
        let routes = self
        for path in ["/", "/nacos"] {
            router.get(RouterPath(path)) { request, _ in
                // Hummingbird routes `/nacos/` here too; only the bare forms need the redirect.
                guard request.uri.path.hasSuffix("/"), request.uri.path != "/" else {
                    return ConsoleAssets.redirect(to: "/nacos/")
                }
                return routes.assets.response(for: "/nacos/") ?? Response(status: .notFound)
            }
        }
        for path in ConsoleAssets.files.keys where path != "/nacos/" {
            router.get(RouterPath(path)) { _, _ in routes.assets.response(for: path) ?? Response(status: .notFound) }
        }
        let api = OpenAPIRouter(router: router, reader: reader)
        api.on(.get, "/nacos/v3/console/me") { parameters, context in
            routes.me(parameters, username: context.username)
        }
        router.get("/nacos/v3/console/events") { _, _ in
            try routes.eventStream()
        }
    }

    /// The user, and whether they may change the services of `namespaceId` (the console shows
    /// edit buttons only then; the server checks every edit anyway).
    private func me(_ parameters: V1Parameters, username: String?) -> Response {
        let namespace = parameters.optional("namespaceId")
        let resource = NamingResource(namespace: namespace, group: nil, service: nil)
        let authEnabled = access.tokensRequired
        var canWrite = true
        var globalAdmin = !authEnabled
        if authEnabled, let username {
            if case .refused = access.authorize(username, .naming(resource, .write)) { canWrite = false }
            if case .allowed = access.authorize(username, .admin) { globalAdmin = true }
        } else if authEnabled {
            canWrite = false
        }
        return Envelope.ok { json in
            json.beginObject()
            json.key("authEnabled"); json.bool(authEnabled)
            if let username { json.key("username"); json.string(username) }
            json.key("globalAdmin"); json.bool(globalAdmin)
            json.key("canWrite"); json.bool(canWrite)
            json.endObject()
        }
    }

    private func eventStream() throws -> Response {
        guard let stream = events.open() else {
            throw V1Error(
                .serviceUnavailable,
                "too many console event streams are open (at most \(events.settings.maximumStreams)); close some tabs",
                code: .serverError)
        }
        let rates = self.rates
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            // The first bytes tell the browser the stream is open (and proxies to pass it on).
            try await writer.write(ByteBuffer(string: ": registrar console events\n\n"))
            try await writer.write(ByteBuffer(string: rates.event()))
            for await event in stream {
                switch event {
                case let .change(service):
                    try await writer.write(ByteBuffer(string: Self.change(service)))
                case .tick:
                    try await writer.write(ByteBuffer(string: rates.event()))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    static func change(_ service: ServiceKey) -> String {
        var json = JSONWriter(capacity: 128)
        json.beginObject()
        json.key("namespaceId"); json.string(service.namespace)
        json.key("groupName"); json.string(service.group)
        json.key("serviceName"); json.string(service.name)
        json.endObject()
        return "event: change\ndata: \(String(decoding: json.bytes, as: UTF8.self))\n\n"
    }

    /// Per-second rates since `previous` (zero on the first event).
    static func rates(_ now: ConsoleEvents.Reading, previous: ConsoleEvents.Reading?, interval: Double) -> String {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("requestsPerSecond"); json.double(previous.map { max(0, now.requests - $0.requests) / interval } ?? 0)
        json.key("pushesPerSecond"); json.double(previous.map { max(0, now.pushes - $0.pushes) / interval } ?? 0)
        json.key("connections"); json.int(now.connections)
        json.key("members"); json.beginArray()
        for member in now.members {
            json.beginObject()
            json.key("address"); json.string(member.address)
            json.key("state"); json.string(member.state)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return "event: rates\ndata: \(String(decoding: json.bytes, as: UTF8.self))\n\n"
    }
}

/// The `rates` event, worked out at most once per half interval however many console pages are
/// open (each reading renders the whole metrics registry): every stream's tick reuses it.
///
/// Threading: thread-safe.
final class ConsoleRateFeed: Sendable {
    private let read: @Sendable () -> ConsoleEvents.Reading
    private let interval: Duration
    private let last = Mutex<(reading: ConsoleEvents.Reading, at: ContinuousClock.Instant, event: String)?>(nil)

    init(interval: Duration, read: @escaping @Sendable () -> ConsoleEvents.Reading) {
        self.interval = interval
        self.read = read
    }

    func event() -> String {
        let now = ContinuousClock.now
        if let cached = last.withLock({ $0 }), now - cached.at < interval / 2 { return cached.event }
        let reading = read()
        return last.withLock { last in
            let elapsed = last.map { now - $0.at }
            let seconds = elapsed.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
            let event = ConsoleRoutes.rates(reading, previous: last?.reading, interval: seconds ?? 1)
            last = (reading, now, event)
            return event
        }
    }
}
