import Logging
import NIOCore
import RegistrarCore
import RegistrarTransport
import RegistrarWire
import Synchronization

/// One SDK client connection: the HTTP/2 connection, its bi-stream, and the naming client it owns.
///
/// The connection id is the naming client id. Unary calls are tied to the connection by the
/// transport: every call on this HTTP/2 connection is routed here.
///
/// Threading: `lastActive` is atomic; everything else is confined to `eventLoop` (the
/// connection's loop), and methods called from elsewhere hop onto it.
final class RPCConnection: GRPCServerConnectionHandler, PushSink, PushStream, @unchecked Sendable {
    static let unaryPath = "/Request/request"
    static let streamPath = "/BiRequestStream/requestBiStream"

    let id: String
    let info: GRPCConnectionInfo
    let front: RPCFront
    var eventLoop: EventLoop { info.eventLoop }
    /// The front's logger with this connection's id. Built when something is logged (rarely),
    /// not kept: a stored copy holds its own metadata dictionary, about 200 bytes per connection.
    var logger: Logger {
        var logger = front.logger
        logger[metadataKey: "connection"] = "\(id)"
        return logger
    }
    /// Monotonic milliseconds of the last sign of life (a unary call or a stream response).
    let lastActive = Atomic<Int64>(monotonicMillis())

    // Loop-bound state.
    private(set) var isRegistered = false
    private var tokenCache: AccessControl.TokenCache?
    private lazy var rateLimit = RequestRateLimit(front.settings.requestRate, now: .now())
    private var stream: GRPCServerCall?
    private(set) var clientIp = ""
    private(set) var clientVersion = ""
    private var isClosed = false
    private var setupTimer: Scheduled<Void>?
    private var detection: (requestId: String, timer: Scheduled<Void>)?
    /// Created by the first fuzzy watch (most connections never have one).
    private var fuzzyWatch: FuzzyWatchSession?
    private lazy var pushSession = PushSession(
        stream: self, eventLoop: eventLoop, settings: front.settings.push, requestIds: front.requestIds,
        counters: front.pushCounters
    )

    init(info: GRPCConnectionInfo, front: RPCFront) {
        let remote = info.remoteAddress
        self.id = "\(wallClockMillis())_\(remote?.ipAddress ?? "unknown")_\(remote?.port ?? 0)"
        self.info = info
        self.front = front
        let timeout = front.settings.setupTimeout
        setupTimer = info.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.isRegistered else { return }
            self.logger.info("closing connection: no ConnectionSetupRequest within \(timeout)")
            self.info.close()
        }
    }

    func touch() {
        lastActive.store(monotonicMillis(), ordering: .relaxed)
    }

    /// Whether the request rate allows one more request now. On the loop.
    func admitRequest() -> Bool {
        eventLoop.assertInEventLoop()
        return rateLimit.admit(now: .now())
    }

    /// Whether this connection's client may have `need`, by the token it sent. On the loop.
    func access(_ need: AccessNeed, token: String?) -> AccessDecision {
        eventLoop.assertInEventLoop()
        let peer = info.remoteAddress?.ipAddress
        return front.access.check(
            need, token: token, peerIsLoopback: AccessControl.isLoopback(peer), now: wallClockMillis() / 1000,
            cache: &tokenCache)
    }

    // MARK: GRPCServerConnectionHandler

    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        switch path {
        case RPCConnection.unaryPath: UnaryCallHandler(connection: self)
        case RPCConnection.streamPath: BiStreamCallHandler(connection: self)
        default: nil
        }
    }

    func connectionClosed() {
        eventLoop.execute { self.cleanUp(reason: "connection closed") }
    }

    // MARK: Stream

    /// A ConnectionSetupRequest arrived on `call`: register the connection and its naming client.
    func setUp(_ request: ConnectionSetupRequest, clientIp: String, on call: GRPCServerCall) {
        guard !isClosed else { return }
        if let stream, stream !== call {
            logger.warning("a second bi-stream sent ConnectionSetupRequest; the newer stream replaces the older")
        }
        stream = call
        self.clientIp = clientIp.isEmpty ? (info.remoteAddress?.ipAddress ?? "") : clientIp
        clientVersion = request.clientVersion ?? ""
        if !isRegistered {
            isRegistered = true
            setupTimer?.cancel()
            front.naming.store.withRegistry { $0.addClient(id, kind: .connection) }
            front.connections.insert(self)
            logger.info(
                "connection registered",
                metadata: [
                    "client": "\(clientVersion)", "clientIp": "\(self.clientIp)",
                    "module": "\(request.labels?["module"] ?? "-")", "app": "\(request.labels?["AppName"] ?? "-")",
                ])
        }
        touch()
        if request.abilityTable != nil {
            // Only clients that negotiate abilities wait for this; sent after registration so
            // that their first request cannot race it.
            let abilities = ServerRequestBody.setupAck(abilities: [
                "supportPersistentInstanceByGrpc": true, "fuzzyWatch": true,
            ])
            send(type: "SetupAckRequest", json: abilities)
        }
    }

    /// The bi-stream ended. Without it the server can neither push nor detect, so the whole
    /// connection goes (clients reconnect).
    func streamClosed(_ call: GRPCServerCall) {
        guard stream === call else { return }
        stream = nil
        logger.info("bi-stream closed; closing the connection")
        info.close()
    }

    /// Writes a server request on the bi-stream. Returns false if it could not be written now.
    @discardableResult
    func send(type: String, json: [UInt8]) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard let stream, !stream.isFinished else { return false }
        var buffer = ByteBufferAllocator().buffer(capacity: json.count + 64)
        buffer.writeBytes(PayloadCodec.encode(type: type, json: json))
        stream.send(buffer)
        return true
    }

    /// What the client-inspection endpoints show, read on the connection's loop. The address is
    /// the peer's, not the `clientIp` the client reports (which can be anything).
    func summary() async -> ConnectionSummary? {
        let remote = info.remoteAddress
        let lastActiveWallMillis = wallClockMillis() - (monotonicMillis() - lastActive.load(ordering: .relaxed))
        return try? await eventLoop.submit {
            ConnectionSummary(
                ip: remote?.ipAddress ?? "", port: remote?.port ?? 0,
                version: self.clientVersion, lastActiveWallMillis: lastActiveWallMillis)
        }.get()
    }

    var isWritable: Bool { stream?.isWritable ?? false }

    /// A response arrived on the stream: an ack of a push, or of a detection.
    func receivedStreamResponse(_ response: ResponseFields, type: String) {
        touch()
        guard let requestId = response.requestId, !requestId.isEmpty else {
            logger.debug("ignoring \(type) without requestId on the stream")
            return
        }
        if let detection, detection.requestId == requestId {
            detection.timer.cancel()
            self.detection = nil
            return
        }
        if fuzzyWatch?.acknowledged(requestId: requestId, success: response.isSuccess) == true { return }
        pushSession.acknowledged(requestId: requestId, success: response.isSuccess, type: type)
    }

    // MARK: Push and liveness (callable from any thread)

    /// Offers a push of `content` for `service`; only the newest content per service is kept.
    func offerPush(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo) {
        eventLoop.execute {
            guard !self.isClosed, self.isRegistered else { return }
            self.pushSession.offer(service, content)
        }
    }

    /// The client's subscribe (`revision` of `service` answered) or unsubscribe (nil).
    func noteSubscription(_ service: ServiceKey, answered revision: UInt64?) {
        eventLoop.execute {
            guard !self.isClosed else { return }
            if let revision {
                self.pushSession.answered(service, revision: revision)
            } else {
                self.pushSession.forget(service)
            }
        }
    }

    /// A `NamingFuzzyWatchRequest`: answered at once, its sync pushed right after. On the loop.
    func fuzzyWatch(_ request: NamingFuzzyWatchRequest) -> Reply {
        eventLoop.assertInEventLoop()
        let session =
            fuzzyWatch
            ?? FuzzyWatchSession(
                connectionId: id, eventLoop: eventLoop, index: front.fuzzyWatch, requestIds: front.requestIds,
                settings: front.settings.push
            ) { [unowned self] type, json in self.send(type: type, json: json) }
        fuzzyWatch = session
        do {
            let (sync, partial) = try session.handle(request, registry: front.naming.store)
            let json =
                partial.map {
                    ResponseBody.failure(
                        RegistryError(code: $0.code, message: $0.message), requestId: request.requestId)
                } ?? ResponseBody.make(requestId: request.requestId)
            return Reply(type: "", json: json, afterResponse: sync)
        } catch {
            logger.info("refusing NamingFuzzyWatchRequest for '\(request.groupKeyPattern ?? "")': \(error.message)")
            return Reply(type: "", json: ResponseBody.failure(error, requestId: request.requestId))
        }
    }

    /// `service` changed; if a fuzzy watch matches it, tell the client whether it is there now.
    func fuzzyWatchServiceChanged(_ service: ServiceKey) {
        eventLoop.execute {
            guard !self.isClosed, let session = self.fuzzyWatch else { return }
            let present = self.front.naming.store.read { $0.hasPublishers(service) }
            session.serviceChanged(service, present: present)
        }
    }

    /// Sends a ClientDetectionRequest; the connection is dropped if it is not answered in time.
    func detect() {
        eventLoop.execute {
            guard !self.isClosed, self.detection == nil else { return }
            let requestId = self.front.requestIds.make()
            let json = ServerRequestBody.clientDetection(requestId: requestId)
            guard self.send(type: "ClientDetectionRequest", json: json) else {
                self.logger.info("idle connection without a usable stream; closing")
                self.info.close()
                return
            }
            let timeout = self.front.settings.detectionTimeout
            let timer = self.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                guard let self else { return }
                self.logger.info("ClientDetectionRequest unanswered for \(timeout); dropping the connection")
                self.info.close()
            }
            self.detection = (requestId, timer)
        }
    }

    // MARK: Cleanup

    private func cleanUp(reason: String) {
        guard !isClosed else { return }
        isClosed = true
        setupTimer?.cancel()
        detection?.timer.cancel()
        pushSession.cancelAll()
        fuzzyWatch?.cancelAll()
        fuzzyWatch = nil
        guard isRegistered else { return }
        front.connections.remove(id)
        let changed = front.naming.mutate { $0.removeClient(id) }
        logger.info("connection unregistered (\(reason)); released \(changed.count) service publication(s)")
    }
}
