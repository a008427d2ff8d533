import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RegistrarCore
import RegistrarStorage
import RegistrarTransport

/// The composition root: the one place that builds every component of a node and hands each
/// exactly what it uses. Nothing is looked up or filled in later; the order of the lines below
/// is the dependency order.
///
/// ```
/// RegistryStore ◄─ DurableWriter (+ DurableStore)      Readiness
///      ▲  ◄──────── DurableFollower (PostgreSQL change log) ──► ChangeNotifier, AccessControl
///      ▲  ▲                                               │
///      │  └── PushScheduler ◄── ChangeNotifier ◄── NamingContext ──► fronts, monitors, checker, cluster
///      │        │ sinks: ConnectionTable (RPCConnection: PushSink → PushSession → its bi-stream)
///      │        └ udp: UDPPushService
/// ```
///
/// Threading: `compose` runs once, before anything serves; every component is thread-safe.
struct Node: Sendable {
    let configuration: ServerConfiguration
    let store: RegistryStore
    let durable: DurableWriter
    let readiness: Readiness
    let connections: ConnectionTable
    let counters: NodeCounters
    let udpPush: UDPPushService?
    let cluster: (node: ClusterNode, server: ClusterServer)?
    let grpcServer: GRPCServer
    let httpFront: V1Front
    /// `--console-port`: the console on a port of its own.
    let consoleFront: V1Front?
    let consoleEvents: ConsoleEvents
    let liveness: LivenessMonitor
    let heartbeats: HeartbeatMonitor
    let healthChecker: HealthChecker
    /// With a shared store (PostgreSQL): applies the change log.
    let follower: DurableFollower?

    /// Builds a node: opens the data directory and loads the durable state into the registry,
    /// binds the UDP push socket, and wires the rest. Binds no TCP port (`RegistrarServer.start`
    /// does, in order).
    static func compose(
        configuration: ServerConfiguration, me: MemberAddress?, group: MultiThreadedEventLoopGroup, logger: Logger
    ) async throws -> Node {
        // TLS files first: a bad one stops the start before anything is opened or bound.
        let transport = try configuration.transport()
        let httpTLS = try configuration.tls.map { settings in
            (try settings.serverContext(alpn: ["http/1.1"]), acceptsPlaintext: settings.acceptsPlaintext)
        }
        var clusterConfiguration = configuration.cluster
        clusterConfiguration.peerTLSContexts = try clusterConfiguration.peerTLS?.contexts()
        // No member ever runs with a blank identity: an empty one would admit any caller that sends one.
        let clusterSecret = configuration.cluster.secret.flatMap { $0.isEmpty ? nil : $0 }
        let member = try me.map { me in
            guard let clusterSecret else {
                throw StartupError(
                    "cluster mode needs --cluster-secret (REGISTRAR_CLUSTER_SECRET), the same on every member")
            }
            return (me, secret: clusterSecret)
        }
        var validation = Validation()
        validation.maximumMetadataLength = configuration.maximumMetadataLength
        let store = RegistryStore(registry: Registry(validation: validation, wallClock: wallClockMillis))
        let metrics = RegistrarMetrics(enabled: configuration.metricsEnabled)
        let durableCounters = DurableCounters(metrics: metrics)
        let (durableStore, accessModel, position) = try await openDurableStore(
            configuration, me: me, into: store, logger: logger)
        let cursor = position.map { ChangeLogCursor(position: $0) }
        let readiness = Readiness()
        let durable = DurableWriter(
            registry: store, store: durableStore, cursor: cursor, readiness: cursor == nil ? nil : readiness,
            refusal: me != nil && cursor == nil ? clusterModeRefusal : nil,
            commitDuration: durableCounters.commitDuration, logger: logger)
        let access = try await accessControl(
            configuration, model: accessModel, store: durableStore, cursor: cursor, clusterMode: me != nil,
            logger: logger)
        let connections = ConnectionTable()
        let pushCounters = PushCounters(metrics: metrics)
        let udpPush = await bindUDPPush(configuration, group: group, counters: pushCounters, logger: logger)
        let push = PushScheduler(
            store: store, sinks: connections, udp: udpPush, timerLoop: group.next(),
            mergeWindow: configuration.pushMergeWindow)
        let fuzzyWatch = FuzzyWatchIndex(
            connections: connections,
            limits: .init(
                patternsPerConnection: configuration.fuzzyWatchPatternsPerConnection,
                matchesPerPattern: configuration.fuzzyWatchMatchesPerPattern))
        let consoleEvents = ConsoleEvents()
        let naming = NamingContext(
            store: store, validation: validation, durable: durable,
            changes: ChangeNotifier(store: store, listeners: [push, fuzzyWatch, consoleEvents]))
        let cluster = member.map { me, secret in
            let node = ClusterNode(
                configuration: clusterConfiguration, secret: secret, me: me, naming: naming,
                readiness: readiness, counters: ClusterCounters(metrics: metrics), group: group, logger: logger)
            return (
                node, ClusterServer(node: node, host: configuration.host, port: configuration.clusterPort, group: group)
            )
        }
        let rpcCounters = RPCCounters(metrics: metrics)
        let transportCounters = NodeCounters.transportCounters(metrics)
        let counters = NodeCounters(metrics: metrics, connections: connections, clusterMode: cluster != nil)
        let requests = RequestMetrics(metrics: metrics)
        let fronts = httpFronts(
            configuration, httpTLS, naming, access, push, connections, cluster?.0, readiness, counters,
            V1Front.Counters(metrics: metrics), requests, consoleEvents, logger)
        let rpc = RPCFront(
            naming: naming, access: access, connections: connections, fuzzyWatch: fuzzyWatch, readiness: readiness,
            settings: .init(
                setupTimeout: configuration.setupTimeout, detectionTimeout: configuration.detectionTimeout,
                push: configuration.pushSettings,
                requestRate: .init(
                    rate: configuration.requestsPerSecondPerConnection,
                    burst: configuration.requestBurstPerConnection)),
            requestIds: RequestIdGenerator(), pushCounters: pushCounters, counters: rpcCounters, requests: requests,
            logger: logger)
        return Node(
            configuration: configuration, store: store, durable: durable, readiness: readiness,
            connections: connections, counters: counters, udpPush: udpPush, cluster: cluster,
            grpcServer: GRPCServer(configuration: transport, group: group, counters: transportCounters) {
                info in
                RPCConnection(info: info, front: rpc)
            },
            httpFront: fronts.main, consoleFront: fronts.console, consoleEvents: consoleEvents,
            liveness: LivenessMonitor(
                connections: connections, scanInterval: configuration.livenessScanInterval,
                idleBeforeDetection: configuration.idleBeforeDetection, loop: group.next()),
            heartbeats: HeartbeatMonitor(
                naming: naming, interval: configuration.heartbeatScanInterval,
                udpSubscriberLease: configuration.udpSubscriberLease, logger: logger, loop: group.next()),
            healthChecker: HealthChecker(
                naming: naming, group: group, settings: configuration.healthCheckSettings,
                prober: cluster.map { prober($0.0) }, counters: durableCounters, logger: logger),
            follower: (durableStore as? any SharedDurableStore).flatMap { shared in
                cursor.map { cursor in
                    DurableFollower(
                        store: shared, registry: store, changes: naming.changes, access: access, cursor: cursor,
                        readiness: readiness, settings: .init(), counters: durableCounters, logger: logger)
                }
            }
        )
    }

    /// One member probes each persistent instance: the one v1 clients' hash makes responsible
    /// for its ip:port, over the healthy members (so a dead member's instances move on).
    private static func prober(_ cluster: ClusterNode) -> @Sendable (Registry.ProbeTarget) -> Bool {
        { target in cluster.memberTable.responsible(for: "\(target.ip):\(target.port)") == cluster.me }
    }

    /// Without a shared database, durable data cannot be replicated between members.
    private static let clusterModeRefusal = RegistryError(
        code: 400,
        message: "persistent instances, services and namespaces cannot be written in cluster mode without "
            + "--database: start every member with the same PostgreSQL URL (see docs/cluster.md)")

    /// Opens the durable store (the database, else the data directory's file) and loads it into
    /// the registry, before any port is bound: a node never serves (or reports ready) without
    /// its durable state. Returns the change-log position of a shared store.
    private static func openDurableStore(
        _ configuration: ServerConfiguration, me: MemberAddress?, into registry: RegistryStore, logger: Logger
    ) async throws -> (any DurableStore, AccessModel, Int64?) {
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw StartupError(
                "cannot create the data directory '\(configuration.dataDirectory)': \(error.localizedDescription)")
        }
        let started = ContinuousClock.now
        let store: any DurableStore
        let state: StoredState
        do throws(StorageError) {
            if let database = configuration.database {
                let origin = "\(me.map(\.description) ?? "\(configuration.host):\(configuration.port)") \(UUID())"
                store = try await PostgresStore.open(try DatabaseURL(database), origin: origin, logger: logger)
            } else {
                store = try SQLiteStore(
                    directory: configuration.dataDirectory, maximumPageCount: configuration.dataFileMaximumPages)
            }
            state = try await store.load()
        } catch {
            throw StartupError(error.description)
        }
        let report = registry.withRegistry { DurableRestore.load(state, into: &$0, logger: logger) }
        logger.info(
            "loaded durable state",
            metadata: [
                "store": "\(store.location)", "loaded": "\(report)", "took": "\(ContinuousClock.now - started)",
            ])
        return (store, state.access, state.position)
    }

    /// Users come from the data file; the token secret from the configuration or the data
    /// directory; the first admin from the configuration, if none exists yet.
    private static func accessControl(
        _ configuration: ServerConfiguration, model: AccessModel, store: any DurableStore, cursor: ChangeLogCursor?,
        clusterMode: Bool, logger: Logger
    ) async throws -> AccessControl {
        let auth = configuration.auth
        // Tokens are in use once an admin exists (or with --auth on); a cluster then needs one key.
        let tokensInUse =
            auth.mode == .on || (auth.mode == .auto && (model.hasAdmin || auth.initialAdminPassword != nil))
        if clusterMode, tokensInUse, auth.tokenSecret == nil {
            throw StartupError(
                "cluster mode with auth needs --token-secret (REGISTRAR_TOKEN_SECRET), the same on every member, "
                    + "so that a token from one member is valid on all (make one with `openssl rand -base64 32`)")
        }
        let secret = try auth.tokenSecret ?? TokenSecretFile.loadOrCreate(directory: configuration.dataDirectory)
        let access = AccessControl(
            configuration: auth, secret: secret, model: model, store: store, cursor: cursor,
            writeRefusal: clusterMode && cursor == nil
                ? "users, roles and permissions cannot be changed in cluster mode without --database: start every "
                    + "member with the same PostgreSQL URL (or set the admin password on each member at start)" : nil,
            logger: logger)
        if let password = auth.initialAdminPassword, !access.hasAdmin {
            do {
                try await access.initialiseAdmin(password: password, atStart: true)
            } catch {
                throw StartupError("cannot create the admin user '\(AccessModel.initialAdmin)': \(error)")
            }
        }
        switch (auth.mode, access.hasAdmin) {
        case (.off, _):
            logger.warning("auth is OFF (--auth off): every client that reaches a port may read and change everything")
        case (.auto, false):
            logger.notice(
                """
                protected mode: no admin password is set, so only loopback clients are served; set one with \
                REGISTRAR_ADMIN_PASSWORD or --admin-password-file, or POST /nacos/v3/auth/user/admin from this host
                """)
        case (.on, false):
            logger.warning(
                """
                auth is on but no admin exists: nobody can log in until one is set (REGISTRAR_ADMIN_PASSWORD, \
                --admin-password-file, or POST /nacos/v3/auth/user/admin from this host)
                """)
        default:
            logger.info("auth is on: clients must log in (\(model.users.count) user(s))")
        }
        return access
    }

    /// v1 clients still work without UDP push: they poll every 10 s.
    private static func bindUDPPush(
        _ configuration: ServerConfiguration, group: any EventLoopGroup, counters: PushCounters, logger: Logger
    ) async -> UDPPushService? {
        do {
            return try await UDPPushService.start(
                host: configuration.host, port: configuration.udpPushPort, group: group,
                resendDelay: configuration.udpPushResendDelay, counters: counters, logger: logger)
        } catch {
            logger.warning(
                "v1 UDP push is off: cannot bind a UDP socket on \(configuration.host):\(configuration.udpPushPort): \(error)"
            )
            return nil
        }
    }
}

extension ServerConfiguration {
    /// The SDK port's transport; reads the TLS files, if any.
    func transport() throws -> GRPCServer.Configuration {
        var transport = GRPCServer.Configuration(host: host, port: grpcPort)
        transport.tls = try tls?.serverContext(alpn: ["h2"])
        transport.tlsAcceptsPlaintext = tls?.acceptsPlaintext ?? false
        transport.maximumMessageSize = maximumMessageSize
        transport.keepaliveInterval = keepaliveInterval
        transport.keepaliveTimeout = keepaliveTimeout
        transport.handshakeTimeout = handshakeTimeout
        transport.maximumConnectionsPerIP = maximumConnectionsPerIP
        return transport
    }

    var pushSettings: PushSettings {
        PushSettings(
            ackTimeout: pushAckTimeout, maximumAttempts: pushMaximumAttempts, retryDelay: pushRetryDelay,
            retryMaximumDelay: pushRetryMaximumDelay)
    }

    var healthCheckSettings: HealthChecker.Settings {
        HealthChecker.Settings(
            interval: healthCheckInterval, timeout: healthCheckTimeout, concurrency: healthCheckConcurrency,
            threshold: healthCheckThreshold)
    }
}
