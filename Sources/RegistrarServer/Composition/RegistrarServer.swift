import Logging
import NIOCore
import NIOPosix
import RegistrarCore
import RegistrarTransport
import ServiceLifecycle
import Synchronization

/// A Registrar node: the v1 HTTP front, the SDK gRPC front, the registry and push (gRPC and
/// UDP), connection liveness and v1 heartbeats, run as one service under
/// swift-service-lifecycle. `Node.compose` builds the parts; this type starts and stops them.
///
/// Threading: `start()` and `stop()` are called once each (`run()` calls both); the addresses
/// may be read from any thread once started.
public final class RegistrarServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool

    /// A started node and its health-check task, from `start` to `stop`.
    private struct Running: Sendable {
        var node: Node
        var healthChecks: Task<Void, Never>
        var follower: Task<Void, Never>?
    }

    private let running = Mutex<Running?>(nil)

    public init(configuration: ServerConfiguration, logger: Logger, group: MultiThreadedEventLoopGroup? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        self.ownsGroup = group == nil
    }

    private var node: Node? { running.withLock { $0?.node } }

    /// The bound SDK gRPC address (useful when the port was 0).
    public var grpcAddress: SocketAddress? { node?.grpcServer.localAddress }
    /// The bound v1 HTTP address.
    public var httpAddress: SocketAddress? { node?.httpFront.localAddress }
    /// The bound console port (`--console-port`), if any.
    public var consoleAddress: SocketAddress? { node?.consoleFront?.localAddress }
    /// The bound UDP push socket.
    public var udpPushAddress: SocketAddress? { node?.udpPush?.localAddress }

    /// Loads the durable state, binds every port and becomes ready. Throws a clear error if a
    /// port is taken or the data directory cannot be used; nothing is left running then.
    public func start() async throws {
        // A member that cannot find itself in the list refuses before it touches anything.
        let me = try configuration.cluster.isEnabled ? configuration.cluster.resolveSelf(port: configuration.port) : nil
        let node = try await Node.compose(configuration: configuration, me: me, group: group, logger: logger)
        do {
            try await bind(node)
        } catch {
            await Self.release(node)
            throw error
        }
        node.liveness.start()
        node.heartbeats.start()
        let checker = node.healthChecker
        let follower = node.follower.map { follower in Task { await follower.run() } }
        running.withLock {
            $0 = Running(node: node, healthChecks: Task { await checker.run() }, follower: follower)
        }
        if let cluster = node.cluster { await cluster.node.loadSnapshot() }
        node.readiness.set(true)
        logger.info(
            "Registrar ready",
            metadata: [
                "http": "\(Self.describe(httpAddress, fallbackPort: configuration.port))",
                "grpc": "\(Self.describe(grpcAddress, fallbackPort: configuration.grpcPort))",
                "udpPush": "\(Self.describe(udpPushAddress, fallbackPort: configuration.udpPushPort))",
                "console":
                    "http://\(Self.describe(consoleAddress ?? httpAddress, fallbackPort: configuration.port))/nacos/",
                "cluster":
                    "\(node.cluster.map { "\($0.node.me) of \(configuration.cluster.members.count) members" } ?? "standalone")",
                "dataDirectory": "\(configuration.dataDirectory)",
            ])
    }

    /// Binds the HTTP, SDK and (in cluster mode) peer ports, in that order, and starts the
    /// cluster loops; on a failure, stops what it had started.
    private func bind(_ node: Node) async throws {
        do {
            try await node.httpFront.start(group: group)
        } catch {
            throw StartupError(
                "cannot listen for HTTP clients on \(configuration.host):\(configuration.port): \(error)")
        }
        do {
            try await node.grpcServer.start()
        } catch {
            await node.httpFront.stop()
            throw StartupError(
                "cannot listen for SDK clients on \(configuration.host):\(configuration.grpcPort): \(error)")
        }
        if let console = node.consoleFront, let port = configuration.consolePort {
            do {
                try await console.start(group: group)
            } catch {
                await node.grpcServer.stop()
                await node.httpFront.stop()
                throw StartupError("cannot listen for the console on \(configuration.host):\(port): \(error)")
            }
        }
        guard let cluster = node.cluster else { return }
        do {
            try await cluster.server.start()
        } catch {
            await node.grpcServer.stop()
            await node.consoleFront?.stop()
            await node.httpFront.stop()
            throw StartupError(
                "cannot listen for cluster peers on \(configuration.host):\(configuration.clusterPort): \(error)")
        }
        cluster.node.start()
        let peers = cluster.node.peers.keys.sorted().map(\.description).joined(separator: ", ")
        logger.notice("cluster member \(cluster.node.me): peers \(peers), cluster port \(configuration.clusterPort)")
    }

    /// What a node holds before any TCP port is bound: the UDP socket and the data file.
    private static func release(_ node: Node) async {
        if let udp = node.udpPush { await udp.stop() }
        await node.durable.close()
    }

    private static func describe(_ address: SocketAddress?, fallbackPort: Int) -> String {
        guard let address else { return "off" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? fallbackPort)"
    }

    /// Stops accepting, sends GOAWAY to every client, and waits for their connections to close.
    public func stop() async {
        guard let running = running.withLock({ $0.take() }) else { return }
        let node = running.node
        node.readiness.set(false)
        running.healthChecks.cancel()
        running.follower?.cancel()
        node.liveness.stop()
        node.heartbeats.stop()
        logger.info("shutting down: GOAWAY to \(node.connections.count) connection(s)")
        await node.grpcServer.stop()
        // Console event streams never end by themselves: end them so the HTTP servers can drain.
        node.consoleEvents.close()
        await node.consoleFront?.stop()
        await node.httpFront.stop()
        if let cluster = node.cluster {
            await cluster.node.stop()
            await cluster.server.stop()
        }
        await Self.release(node)
        logger.info(
            "stopped", metadata: Logger.Metadata(uniqueKeysWithValues: node.counters.all.map { ($0.0, "\($0.1)") }))
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
