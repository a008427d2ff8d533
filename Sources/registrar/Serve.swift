import ArgumentParser
import Foundation
import Logging
import RegistrarServer
import RegistrarTransport
import ServiceLifecycle

/// `registrar serve`: runs a node until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Registrar node.",
        discussion: """
            With no options it serves SDK clients on gRPC port 9848 (HTTP port 8848 + 1000) and keeps \
            data in ./data. Settings come from flags, then REGISTRAR_* environment variables, then a \
            'key = value' config file (--config or REGISTRAR_CONFIG), then defaults. Keys: \
            \(ServeSettings.keys.joined(separator: ", ")).
            """
    )

    @Option(help: "Address to bind (default 0.0.0.0).")
    var host: String?

    @Option(help: "Main port P (default 8848); gRPC for SDKs listens on P+1000, the cluster on P+1001.")
    var port: String?

    @Option(name: .customLong("grpc-port"), help: "Override the SDK gRPC port (default P+1000).")
    var grpcPort: String?

    @Option(name: .customLong("data-dir"), help: "Data directory (default ./data).")
    var dataDir: String?

    @Option(
        help: """
            PostgreSQL for durable data, shared by every member: postgres://user:pass@host:5432/db?sslmode=require \
            (prefer REGISTRAR_DATABASE: a flag shows in the process list). Default: <data-dir>'s SQLite file.
            """)
    var database: String?

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(
        name: .customLong("health-check-interval"),
        help: "Seconds between active checks of each persistent instance (default 5).")
    var healthCheckInterval: String?

    @Option(help: "Cluster mode: every member as host:port (main ports), comma-separated, this node included.")
    var members: String?

    @Option(
        name: .customLong("cluster-conf"),
        help: "Cluster mode: a file with one member host:port per line ('#' comments).")
    var clusterConf: String?

    @Option(
        name: .customLong("cluster-secret"),
        help: "Cluster mode: the identity every member shares (required in cluster mode).")
    var clusterSecret: String?

    @Option(
        help: "Cluster mode: this node's host:port as the member list names it (default: found among local addresses).")
    var advertise: String?

    @Option(
        name: .customLong("replica-lease"),
        help: "Cluster mode: seconds a peer's clients outlive its silence (default 20).")
    var replicaLease: String?

    @Option(
        name: .customLong("verify-interval"),
        help: "Cluster mode: seconds between digests sent to each peer (default 5).")
    var verifyInterval: String?

    @Option(
        help: """
            Who must log in: auto (default: like on once an admin password exists; until then only \
            loopback clients are served), on, or off.
            """)
    var auth: String?

    @Option(name: .customLong("token-ttl"), help: "Seconds an access token stays valid (default 18000).")
    var tokenTTL: String?

    @Option(
        name: .customLong("token-secret"),
        help: "Base64 key (32+ bytes) that signs tokens; the same on every member. Default: <data-dir>/token.secret.")
    var tokenSecret: String?

    @Option(
        name: .customLong("admin-password-file"),
        help: "A file holding the first password of the admin 'nacos' (or set REGISTRAR_ADMIN_PASSWORD).")
    var adminPasswordFile: String?

    @Option(
        name: .customLong("max-connections-per-ip"),
        help: "SDK connections one IP address may hold at once (default 2000).")
    var maxConnectionsPerIP: String?

    @Option(
        name: .customLong("max-requests-per-second"),
        help: "Requests per second one SDK connection may send on average; 0: no limit (default 20000).")
    var maxRequestsPerSecond: String?

    @Option(
        name: .customLong("request-burst"),
        help: "Requests one SDK connection may send at once above that rate (default twice the rate).")
    var requestBurst: String?

    @Option(
        name: .customLong("http-header-timeout"),
        help: "Seconds a new HTTP connection has to send its first request's headers (default 10).")
    var httpHeaderTimeout: String?

    @Option(
        name: .customLong("http-idle-timeout"),
        help: "Seconds an idle HTTP keep-alive connection stays open (default 60).")
    var httpIdleTimeout: String?

    @Option(
        name: .customLong("handshake-timeout"),
        help: "Seconds a gRPC or cluster connection has to complete the HTTP/2 preface (default 10).")
    var handshakeTimeout: String?

    @Option(
        name: .customLong("tls-cert"),
        help: "PEM certificate chain: TLS on the SDK gRPC port (ALPN h2) and the HTTP port; plaintext is refused.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .customLong("tls-mode"),
        help: "required (default with --tls-cert): plaintext is refused; optional: both, on the same ports.")
    var tlsMode: String?

    @Option(
        name: .customLong("tls-client-ca"),
        help: "PEM CA: clients must present a certificate it signed (mutual TLS).")
    var tlsClientCA: String?

    @Option(name: .customLong("peer-tls-cert"), help: "Cluster mode: this member's PEM certificate for peers.")
    var peerTLSCert: String?

    @Option(name: .customLong("peer-tls-key"), help: "Cluster mode: the PEM private key of --peer-tls-cert.")
    var peerTLSKey: String?

    @Option(
        name: .customLong("peer-tls-ca"),
        help: "Cluster mode: PEM CA of the members; peers must present a certificate it signed (mutual TLS).")
    var peerTLSCA: String?

    @Option(
        name: .customLong("console-port"),
        help: "Also serve the web console on this port (it is always at /nacos/ on the main port).")
    var consolePort: String?

    @Option(
        name: .customLong("console-assets"),
        help: "Serve the console's files from this directory instead of the copy built in (for working on them).")
    var consoleAssets: String?

    @Option(
        help: "on (default) or off: metrics at /metrics and /nacos/actuator/prometheus (off: to measure their cost).")
    var metrics: String?

    @Option(help: "A config file of 'key = value' lines.")
    var config: String?

    func run() async throws {
        let settings: ServeSettings
        var configuration = ServerConfiguration()
        do {
            settings = try ServeSettings(
                flags: [
                    "host": host, "port": port, "grpc-port": grpcPort, "data-dir": dataDir, "database": database,
                    "log-level": logLevel,
                    "health-check-interval": healthCheckInterval, "members": members, "cluster-conf": clusterConf,
                    "cluster-secret": clusterSecret, "advertise": advertise, "replica-lease": replicaLease,
                    "verify-interval": verifyInterval, "auth": auth, "token-ttl": tokenTTL,
                    "token-secret": tokenSecret, "admin-password-file": adminPasswordFile,
                    "max-connections-per-ip": maxConnectionsPerIP,
                    "max-requests-per-second": maxRequestsPerSecond, "request-burst": requestBurst,
                    "http-header-timeout": httpHeaderTimeout,
                    "http-idle-timeout": httpIdleTimeout, "handshake-timeout": handshakeTimeout,
                    "tls-cert": tlsCert, "tls-key": tlsKey, "tls-client-ca": tlsClientCA, "tls-mode": tlsMode,
                    "peer-tls-cert": peerTLSCert, "peer-tls-key": peerTLSKey, "peer-tls-ca": peerTLSCA,
                    "console-port": consolePort, "console-assets": consoleAssets, "metrics": metrics,
                ],
                environment: ProcessInfo.processInfo.environment,
                configFile: config
            )
            try settings.apply(to: &configuration)
        } catch let error as SettingsError {
            throw ValidationError(error.description)
        }
        let levelName = settings.string("log-level") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level '\(levelName)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "registrar")
        let descriptors = FileDescriptorLimit.raiseToHardLimit()
        if descriptors < 10_000 {
            logger.warning(
                "only \(descriptors) file descriptors may be open (ulimit -n): each client connection takes one")
        }
        let server = RegistrarServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        do {
            try await group.run()
        } catch let error as StartupError {
            logger.critical("\(error.description)")
            throw ExitCode.failure
        }
    }
}
