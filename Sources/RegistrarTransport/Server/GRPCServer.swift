import CoreMetrics
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// A cleartext (h2c) gRPC server over swift-nio-http2, with neither a task nor a child channel
/// per call: each call is a stream state in its connection's `GRPCServerFrameHandler`, handled on
/// the connection's event loop.
///
/// The HTTP/2 connection channel *is* the client connection. The application hears of each
/// connection through `acceptor` and returns the handler that routes that connection's calls.
///
/// Threading: `start()` and `stop()` may be called from any thread.
public final class GRPCServer: Sendable {
    /// Tunables of the transport.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Largest request message accepted; a larger one ends its call with RESOURCE_EXHAUSTED.
        public var maximumMessageSize: Int = 10 * 1024 * 1024
        /// Idle time before the server PINGs a silent connection.
        public var keepaliveInterval: TimeAmount = .seconds(5)
        /// How long a PING may go unanswered before the connection is closed.
        public var keepaliveTimeout: TimeAmount = .seconds(5)
        /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients.
        public var maximumConcurrentStreams: Int = 1000
        /// How long connections may finish after GOAWAY on shutdown.
        public var shutdownGrace: TimeAmount = .seconds(1)
        /// A connection that has not completed the HTTP/2 preface by then is closed.
        public var handshakeTimeout: TimeAmount = .seconds(10)
        /// Connections one IP address may hold at once; more are closed as they arrive.
        public var maximumConnectionsPerIP: Int = 2000
        /// TLS for every connection (its ALPN should offer `h2`); nil: cleartext h2c.
        public var tls: NIOSSLContext?
        /// With `tls`: also accept plaintext connections on the same port (a migration).
        public var tlsAcceptsPlaintext = false

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Called on the connection's event loop for every accepted connection.
    public typealias Acceptor = @Sendable (GRPCConnectionInfo) -> any GRPCServerConnectionHandler

    public let configuration: Configuration
    private let group: EventLoopGroup
    private let acceptor: Acceptor
    private let state = Mutex<State>(State())
    public let counters: Counters

    /// What the server refused, counted through swift-metrics (the handles come from the owner).
    public final class Counters: Sendable {
        /// Connections closed on arrival because their IP already held `maximumConnectionsPerIP`.
        public let refusedConnections: CoreMetrics.Counter
        /// Connections closed because they did not complete the HTTP/2 preface in time.
        public let handshakeTimeouts: CoreMetrics.Counter

        public init(refusedConnections: CoreMetrics.Counter, handshakeTimeouts: CoreMetrics.Counter) {
            self.refusedConnections = refusedConnections
            self.handshakeTimeouts = handshakeTimeouts
        }

        /// Counters that record nowhere.
        public convenience init() {
            let factory = NOOPMetricsHandler.instance
            self.init(
                refusedConnections: .init(label: "refused", factory: factory),
                handshakeTimeouts: .init(label: "handshake", factory: factory))
        }
    }

    private struct State {
        var listener: Channel?
        var connections: [ObjectIdentifier: GRPCConnectionInfo] = [:]
        var connectionsPerIP: [String: Int] = [:]
        /// One keepalive clock per event loop, made by the loop's first connection.
        var keepaliveClocks: [ObjectIdentifier: NIOLoopBound<KeepaliveClock>] = [:]
    }

    public init(
        configuration: Configuration, group: EventLoopGroup, counters: Counters = Counters(),
        acceptor: @escaping Acceptor
    ) {
        self.configuration = configuration
        self.counters = counters
        self.group = group
        self.acceptor = acceptor
    }

    /// The address the server listens on, once started.
    public var localAddress: SocketAddress? { state.withLock { $0.listener?.localAddress } }

    /// Binds the listening socket. Throws if the port is taken.
    public func start() async throws {
        let configuration = self.configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            // Each connection keeps its read buffer between reads; SDK requests are a few
            // hundred bytes, so start at 256 (NIO's default is 2 KiB). Large reads still grow it.
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536)
            )
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.configureConnection(channel, configuration: configuration)
                }
            }
        let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLock { $0.listener = listener }
    }

    private func configureConnection(_ channel: Channel, configuration: Configuration) throws {
        let ip = channel.remoteAddress?.ipAddress ?? "unknown"
        let admitted = state.withLock { state in
            guard state.connectionsPerIP[ip, default: 0] < configuration.maximumConnectionsPerIP else { return false }
            state.connectionsPerIP[ip, default: 0] += 1
            return true
        }
        guard admitted else {
            // Refused before any handler or application state exists: it costs the others nothing.
            counters.refusedConnections.increment()
            throw ConnectionLimitReached(ip: ip, limit: configuration.maximumConnectionsPerIP)
        }
        let info = GRPCConnectionInfo(
            channel: channel, remoteAddress: channel.remoteAddress, localAddress: channel.localAddress)
        let handler = acceptor(info)
        let key = ObjectIdentifier(channel)
        state.withLock { $0.connections[key] = info }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { state in
                state.connections.removeValue(forKey: key)
                state.connectionsPerIP[ip, default: 1] -= 1
                if state.connectionsPerIP[ip] == 0 { state.connectionsPerIP.removeValue(forKey: ip) }
            }
            handler.connectionClosed()
        }
        let sync = channel.pipeline.syncOperations
        let install = { [self] (sync: ChannelPipeline.SynchronousOperations) throws in
            try self.addProtocolHandlers(sync, channel: channel, router: handler, configuration: configuration)
        }
        switch (configuration.tls, configuration.tlsAcceptsPlaintext) {
        case (nil, _):
            try install(sync)
        case let (tls?, false):
            try sync.addHandler(NIOSSLServerHandler(context: tls))
            try install(sync)
        case let (tls?, true):
            // The HTTP/2 handler speaks first: it joins only once TLS or plaintext is known.
            let counters = self.counters
            try sync.addHandler(
                FirstReadDeadline(timeout: configuration.handshakeTimeout) {
                    counters.handshakeTimeouts.increment()
                })
            try sync.addHandler(TLSSniffer(tls: tls, install: install))
        }
    }

    /// Keepalive, read compaction, HTTP/2, the preface deadline and the gRPC frame handler.
    private func addProtocolHandlers(
        _ sync: ChannelPipeline.SynchronousOperations, channel: Channel,
        router handler: any GRPCServerConnectionHandler,
        configuration: Configuration
    ) throws {
        try sync.addHandler(KeepaliveHandler(clock: keepaliveClock(for: channel.eventLoop)))
        try sync.addHandler(ReadCompactor())
        let initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maximumConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 * 1024),
        ]
        // NIO's abuse limits each keep a ring of timestamps sized to their count, allocated up
        // front (8 bytes a slot, per connection): at NIO's 200 per 30 s that is 4.8 KiB for the
        // three. We keep about its average rate (6.4 a second against 6.7) with smaller bursts,
        // sized to what a well-behaved client sends at once: control frames (PING, SETTINGS and
        // their ACKs, our keepalive's included) 64 per 10 s; RST_STREAM 32 per 5 s, since a client
        // may cancel a batch of calls that timed out together; stream errors, which only a broken
        // or hostile peer causes, 16 per 2.5 s.
        var connectionConfiguration = NIOHTTP2Handler.ConnectionConfiguration()
        connectionConfiguration.initialSettings = initialSettings
        connectionConfiguration.controlFrameRateLimit.maximumCount = 64
        connectionConfiguration.controlFrameRateLimit.windowLength = .seconds(10)
        var streamConfiguration = NIOHTTP2Handler.StreamConfiguration()
        streamConfiguration.streamResetFrameRateLimit.maximumCount = 32
        streamConfiguration.streamResetFrameRateLimit.windowLength = .seconds(5)
        streamConfiguration.streamErrorRateLimit.maximumCount = 16
        streamConfiguration.streamErrorRateLimit.windowLength = .milliseconds(2500)
        try sync.addHandler(
            NIOHTTP2Handler(
                mode: .server, connectionConfiguration: connectionConfiguration,
                streamConfiguration: streamConfiguration))
        let counters = self.counters
        try sync.addHandler(
            FirstReadDeadline(timeout: configuration.handshakeTimeout) {
                counters.handshakeTimeouts.increment()
            })
        try sync.addHandler(
            GRPCServerFrameHandler(router: handler, maximumMessageSize: configuration.maximumMessageSize))
    }

    /// The keepalive clock of `eventLoop`; must be called on that loop.
    private func keepaliveClock(for eventLoop: EventLoop) -> KeepaliveClock {
        let key = ObjectIdentifier(eventLoop)
        return state.withLock { state in
            if let clock = state.keepaliveClocks[key] { return clock.value }
            let clock = KeepaliveClock(
                eventLoop: eventLoop, interval: configuration.keepaliveInterval, timeout: configuration.keepaliveTimeout
            )
            state.keepaliveClocks[key] = NIOLoopBound(clock, eventLoop: eventLoop)
            return clock
        }
    }

    /// Stops accepting, sends GOAWAY to every connection, and waits until they have closed
    /// (at most `shutdownGrace` plus a little).
    public func stop() async {
        let (listener, connections) = state.withLock { ($0.listener, Array($0.connections.values)) }
        try? await listener?.close()
        for connection in connections {
            connection.goAway(grace: configuration.shutdownGrace)
        }
        for connection in connections {
            try? await connection.channel.closeFuture.get()
        }
    }
}

/// A connection refused because its IP address already holds the most connections allowed.
public struct ConnectionLimitReached: Error, CustomStringConvertible {
    public let ip: String
    public let limit: Int

    public var description: String { "\(ip) already holds \(limit) connections (the per-IP limit)" }
}
