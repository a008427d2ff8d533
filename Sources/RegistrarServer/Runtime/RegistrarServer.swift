import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarCore
import RegistrarStorage
import RegistrarTransport
import ServiceLifecycle
import Synchronization

/// A Registrar node: the v1 HTTP front, the SDK gRPC front, the registry and push (gRPC and
/// UDP), connection liveness and v1 heartbeats, run as one service under
/// swift-service-lifecycle.
///
/// Threading: `run()` is called once; `grpcAddress` may be read from any thread once started.
public final class RegistrarServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let runtime: NamingRuntime
    private let grpcServer: GRPCServer
    private let httpFront: V1Front
    private let monitors = Mutex<(LivenessMonitor, HeartbeatMonitor)?>(nil)
    private let udpPush = Mutex<UDPPushService?>(nil)
    private let healthChecks = Mutex<Task<Void, Never>?>(nil)
    private let clusterServer = Mutex<ClusterServer?>(nil)

    public init(configuration: ServerConfiguration, logger: Logger, group: MultiThreadedEventLoopGroup? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        self.ownsGroup = group == nil
        let runtime = NamingRuntime(configuration: configuration, timerLoop: self.group.next(), logger: logger)
        self.runtime = runtime
        var transport = GRPCServer.Configuration(host: configuration.host, port: configuration.grpcPort)
        transport.maximumMessageSize = configuration.maximumMessageSize
        transport.keepaliveInterval = configuration.keepaliveInterval
        transport.keepaliveTimeout = configuration.keepaliveTimeout
        self.httpFront = V1Front(runtime: runtime, logger: logger)
        self.grpcServer = GRPCServer(configuration: transport, group: self.group) { info in
            RPCConnection(info: info, runtime: runtime)
        }
    }

    /// The bound SDK gRPC address (useful when the port was 0).
    public var grpcAddress: SocketAddress? { grpcServer.localAddress }
    /// The bound v1 HTTP address.
    public var httpAddress: SocketAddress? { httpFront.localAddress }
    /// The bound UDP push socket.
    public var udpPushAddress: SocketAddress? { udpPush.withLock { $0?.localAddress } }

    /// Binds and becomes ready. Throws a clear error if a port is taken or the data directory
    /// cannot be created.
    public func start() async throws {
        // A member that cannot find itself in the list refuses before it touches anything.
        let me = try configuration.cluster.isEnabled ? configuration.cluster.resolveSelf(port: configuration.port) : nil
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw StartupError("cannot create the data directory '\(configuration.dataDirectory)': \(error.localizedDescription)")
        }
        try openDurableStore()
        do {
            try await httpFront.start(group: group)
        } catch {
            await runtime.durable.close()
            throw StartupError("cannot listen for HTTP clients on \(configuration.host):\(configuration.port): \(error)")
        }
        do {
            try await grpcServer.start()
        } catch {
            await httpFront.stop()
            await runtime.durable.close()
            throw StartupError("cannot listen for SDK clients on \(configuration.host):\(configuration.grpcPort): \(error)")
        }
        do {
            if let me { try await startCluster(as: me) }
        } catch {
            await grpcServer.stop()
            await httpFront.stop()
            await runtime.durable.close()
            throw error
        }
        do {
            let udp = try await UDPPushService.start(
                host: configuration.host, port: configuration.udpPushPort, group: group,
                resendDelay: configuration.udpPushResendDelay, counters: runtime.counters, logger: logger
            )
            udpPush.withLock { $0 = udp }
            runtime.push.attach(udp: udp)
        } catch {
            // v1 clients still work without it: they poll every 10 s.
            logger.warning("v1 UDP push is off: cannot bind a UDP socket on \(configuration.host):\(configuration.udpPushPort): \(error)")
        }
        monitors.withLock { $0 = (LivenessMonitor(runtime: runtime, loop: group.next()), HeartbeatMonitor(runtime: runtime, loop: group.next())) }
        let checker = HealthChecker(runtime: runtime, group: group, settings: .init(
            interval: configuration.healthCheckInterval, timeout: configuration.healthCheckTimeout,
            concurrency: configuration.healthCheckConcurrency, threshold: configuration.healthCheckThreshold
        ))
        healthChecks.withLock { $0 = Task { await checker.run() } }
        if let node = runtime.cluster.withLock({ $0 }) { await node.loadSnapshot() }
        runtime.ready.store(true, ordering: .relaxed)
        logger.info("Registrar ready", metadata: [
            "http": "\(Self.describe(httpAddress, fallbackPort: configuration.port))",
            "grpc": "\(Self.describe(grpcAddress, fallbackPort: configuration.grpcPort))",
            "udpPush": "\(Self.describe(udpPushAddress, fallbackPort: configuration.udpPushPort))",
            "cluster": "\(runtime.cluster.withLock { $0 }.map { "\($0.me) of \(configuration.cluster.members.count) members" } ?? "standalone")",
            "dataDirectory": "\(configuration.dataDirectory)",
        ])
    }

    /// Opens the data file and loads it into the registry, before any port is bound: a node
    /// never serves (or reports ready) without its durable state.
    private func openDurableStore() throws {
        let started = ContinuousClock.now
        let store: DurableStore
        let state: StoredState
        do throws(StorageError) {
            store = try DurableStore(directory: configuration.dataDirectory, maximumPageCount: configuration.dataFileMaximumPages)
            state = try store.load()
        } catch {
            throw StartupError(error.description)
        }
        let report = runtime.store.withRegistry { DurableRestore.load(state, into: &$0, logger: logger) }
        runtime.durable.attach(store)
        logger.info("loaded durable state", metadata: [
            "file": "\(store.path)", "loaded": "\(report)", "took": "\(ContinuousClock.now - started)",
        ])
    }

    /// Cluster mode: resolves this node's member entry, binds the cluster port and starts the
    /// membership and Distro loops. Durable writes are refused: they are not replicated yet.
    private func startCluster(as me: MemberAddress) async throws {
        let node = ClusterNode(configuration: configuration.cluster, me: me, runtime: runtime, group: group, logger: logger)
        let server = ClusterServer(node: node, host: configuration.host, port: configuration.clusterPort, group: group)
        do {
            try await server.start()
        } catch {
            throw StartupError("cannot listen for cluster peers on \(configuration.host):\(configuration.clusterPort): \(error)")
        }
        runtime.durable.refuseWrites(RegistryError(
            code: 400,
            message: "persistent instances, services and namespaces cannot be written in cluster mode yet: they are not replicated between members (see docs/persistence.md)"
        ))
        runtime.cluster.withLock { $0 = node }
        clusterServer.withLock { $0 = server }
        node.start()
        logger.notice("cluster member \(me): peers \(node.peers.keys.sorted().map(\.description).joined(separator: ", ")), cluster port \(configuration.clusterPort)")
    }

    private static func describe(_ address: SocketAddress?, fallbackPort: Int) -> String {
        guard let address else { return "off" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? fallbackPort)"
    }

    /// Stops accepting, sends GOAWAY to every client, and waits for their connections to close.
    public func stop() async {
        runtime.ready.store(false, ordering: .relaxed)
        healthChecks.withLock { $0.take() }?.cancel()
        if let (liveness, heartbeats) = monitors.withLock({ $0.take() }) {
            liveness.stop()
            heartbeats.stop()
        }
        logger.info("shutting down: GOAWAY to \(runtime.connections.count) connection(s)")
        await grpcServer.stop()
        await httpFront.stop()
        runtime.push.attach(udp: nil)
        if let udp = udpPush.withLock({ $0.take() }) { await udp.stop() }
        if let node = runtime.cluster.withLock({ $0 }) { await node.stop() }
        if let server = clusterServer.withLock({ $0.take() }) { await server.stop() }
        await runtime.durable.close()
        logger.info("stopped", metadata: Logger.Metadata(uniqueKeysWithValues: runtime.counters.all.map { ($0.0, "\($0.1)") }))
        if ownsGroup { try? await group.shutdownGracefully() }
    }

    /// Runs until graceful shutdown (SIGTERM or SIGINT under a ServiceGroup).
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await stop()
    }
}

/// A startup failure, with a message meant for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
