import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarTransport
import ServiceLifecycle
import Synchronization

/// A Registrar node: the SDK gRPC front, the registry and push, and liveness, run as one
/// service under swift-service-lifecycle.
///
/// Threading: `run()` is called once; `grpcAddress` may be read from any thread once started.
public final class RegistrarServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let runtime: NamingRuntime
    private let grpcServer: GRPCServer
    private let liveness = Mutex<LivenessMonitor?>(nil)

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
        self.grpcServer = GRPCServer(configuration: transport, group: self.group) { info in
            RPCConnection(info: info, runtime: runtime)
        }
    }

    /// The bound SDK gRPC address (useful when the port was 0).
    public var grpcAddress: SocketAddress? { grpcServer.localAddress }

    /// Binds and becomes ready. Throws a clear error if a port is taken or the data directory
    /// cannot be created.
    public func start() async throws {
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw StartupError("cannot create the data directory '\(configuration.dataDirectory)': \(error.localizedDescription)")
        }
        do {
            try await grpcServer.start()
        } catch {
            throw StartupError("cannot listen for SDK clients on \(configuration.host):\(configuration.grpcPort): \(error)")
        }
        liveness.withLock { $0 = LivenessMonitor(runtime: runtime, loop: group.next()) }
        runtime.ready.store(true, ordering: .relaxed)
        logger.info("Registrar ready", metadata: [
            "grpc": "\(grpcAddress.map { "\($0.ipAddress ?? configuration.host):\($0.port ?? configuration.grpcPort)" } ?? "?")",
            "dataDirectory": "\(configuration.dataDirectory)",
        ])
    }

    /// Stops accepting, sends GOAWAY to every client, and waits for their connections to close.
    public func stop() async {
        runtime.ready.store(false, ordering: .relaxed)
        liveness.withLock { $0?.stop(); $0 = nil }
        logger.info("shutting down: GOAWAY to \(runtime.connections.count) connection(s)")
        await grpcServer.stop()
        let counters = runtime.counters
        logger.info("stopped", metadata: [
            "pushesSent": "\(counters.pushesSent.load(ordering: .relaxed))",
            "pushesAcked": "\(counters.pushesAcked.load(ordering: .relaxed))",
            "pushRetries": "\(counters.pushRetries.load(ordering: .relaxed))",
            "pushesAbandoned": "\(counters.pushesAbandoned.load(ordering: .relaxed))",
            "malformedPayloads": "\(counters.malformedPayloads.load(ordering: .relaxed))",
        ])
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
