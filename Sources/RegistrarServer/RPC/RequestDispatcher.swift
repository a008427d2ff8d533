import RegistrarCore
import RegistrarWire

/// What a unary call answers: the response's `metadata.type`, its JSON, and work to do once
/// the response is on its way (a subscriber's first push).
struct Reply {
    var type: String
    var json: [UInt8]
    var afterResponse: (() -> Void)?
    /// Set when the answer needs asynchronous work (a durable write): the call is answered with
    /// its JSON once it completes, and the services it changed are pushed after that.
    var deferred: (@Sendable () async -> (json: [UInt8], changed: [ServiceKey]))?

    static func error(_ code: Int, _ message: String, requestId: String?) -> Reply {
        Reply(type: "ErrorResponse", json: ResponseBody.error(code: code, message: message, requestId: requestId))
    }
}

/// Routes a unary request by `metadata.type`, in Nacos's order: ServerCheck first (no
/// connection needed), then unknown types, then the connection check, then parsing, then the
/// handler. Validation failures come back as the typed response with resultCode 500.
///
/// Threading: runs on the connection's event loop.
enum RequestDispatcher {
    /// Response type for each request type served.
    static let responseTypes: [String: String] = [
        "HealthCheckRequest": "HealthCheckResponse",
        "InstanceRequest": "InstanceResponse",
        "PersistentInstanceRequest": "InstanceResponse",
        "BatchInstanceRequest": "BatchInstanceResponse",
        "ServiceQueryRequest": "QueryServiceResponse",
        "SubscribeServiceRequest": "SubscribeServiceResponse",
        "ServiceListRequest": "ServiceListResponse",
        "NamingFuzzyWatchRequest": "NamingFuzzyWatchResponse",
    ]

    static func handle(_ message: WireMessage, connection: RPCConnection) -> Reply {
        if message.type == "ServerCheckRequest" {
            let requestId = (try? BodyDecoder.decode(ServerRequestFields.self, from: message))?.requestId
            guard connection.front.readiness.isReady else {
                return .error(300, "Server is starting,please try later.", requestId: requestId)
            }
            return Reply(
                type: "ServerCheckResponse",
                json: ResponseBody.serverCheck(connectionId: connection.id, requestId: requestId))
        }
        // Errors before the body is parsed carry no requestId: Nacos does not echo it on unary
        // calls, and the clients match unary responses by their HTTP/2 stream anyway.
        guard let responseType = responseTypes[message.type] else {
            let counters = connection.front.counters
            counters.unknownRequests.add(1)
            if let shown = counters.unknownTypes.firstSighting(of: message.type) {
                let why =
                    "answered with 302 RequestHandler Not Found (logged once per type; grpcUnknownRequests"
                    + " counts all)"
                connection.logger.notice("request type \"\(shown)\" is not served; \(why)")
            }
            return .error(302, "RequestHandler Not Found", requestId: nil)
        }
        guard connection.isRegistered else {
            return .error(301, "Connection is unregistered.", requestId: nil)
        }
        connection.touch()
        guard connection.admitRequest() else {
            connection.front.counters.rateLimited.add(1)
            let rate = connection.front.settings.requestRate
            return .error(
                429, "too many requests on this connection (over \(rate.rate)/s, bursts of \(rate.burst)); slow down",
                requestId: nil)
        }
        do {
            var reply: Reply
            switch message.type {
            case "HealthCheckRequest":
                let request = try BodyDecoder.decode(ServerRequestFields.self, from: message)
                reply = Reply(type: responseType, json: ResponseBody.make(requestId: request.requestId))
            case "InstanceRequest":
                reply = try serve(message, connection, .write) { $0.instance($1 as InstanceRequest) }
            case "PersistentInstanceRequest":
                reply = try serve(message, connection, .write) { $0.persistentInstance($1 as InstanceRequest) }
            case "BatchInstanceRequest":
                reply = try serve(message, connection, .write) { $0.batch($1 as BatchInstanceRequest) }
            case "ServiceQueryRequest":
                reply = try serve(message, connection, .read) { $0.query($1 as ServiceQueryRequest) }
            case "SubscribeServiceRequest":
                reply = try serve(message, connection, .read) { $0.subscribe($1 as SubscribeServiceRequest) }
            case "NamingFuzzyWatchRequest":
                reply = try fuzzyWatch(message, connection)
            default:
                reply = try serve(message, connection, .read, wholeGroup: true) {
                    $0.listServices($1 as ServiceListRequest)
                }
            }
            reply.type = responseType
            return reply
        } catch {
            connection.logger.notice("rejecting \(message.type): \(error)")
            return .error(502, "\(error)", requestId: nil)
        }
    }

    /// A fuzzy watch reads a whole namespace: the caller needs `r` on it.
    private static func fuzzyWatch(_ message: WireMessage, _ connection: RPCConnection) throws(WireError) -> Reply {
        let request = try BodyDecoder.decode(NamingFuzzyWatchRequest.self, from: message)
        let resource = NamingResource(namespace: request.namespace, group: nil, service: nil)
        if case let .refused(reason) = connection.access(
            .naming(resource, .read), token: message.headers["accessToken"])
        {
            connection.front.counters.accessRefusals.add(1)
            return Reply(
                type: "",
                json: ResponseBody.failure(RegistryError(code: 403, message: reason), requestId: request.requestId))
        }
        return connection.fuzzyWatch(request)
    }

    /// Parses the body as `Request`, checks that the caller may do `action` on what it names,
    /// and hands it to the naming handler. A refusal is the typed response with errorCode 403,
    /// which makes Nacos clients log in again.
    private static func serve<Request: NamingRequestFields>(
        _ message: WireMessage, _ connection: RPCConnection, _ action: AccessAction, wholeGroup: Bool = false,
        _ handle: (NamingHandlers, Request) -> Reply
    ) throws(WireError) -> Reply {
        let request = try BodyDecoder.decode(Request.self, from: message)
        let resource = NamingResource(
            namespace: request.namespace, group: request.groupName, service: wholeGroup ? nil : request.serviceName)
        if case let .refused(reason) = connection.access(
            .naming(resource, action), token: message.headers["accessToken"])
        {
            connection.front.counters.accessRefusals.add(1)
            connection.logger.info("refused \(message.type) on \(resource.text): \(reason)")
            return Reply(
                type: "",
                json: ResponseBody.failure(RegistryError(code: 403, message: reason), requestId: request.requestId))
        }
        return handle(NamingHandlers(connection: connection, requestId: request.requestId), request)
    }
}
