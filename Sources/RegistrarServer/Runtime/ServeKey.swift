/// Every setting of `registrar serve`, declared once. A key is a flag (`--grpc-port`), an environment
/// variable (`REGISTRAR_GRPC_PORT`) and a line of the config file (`grpc-port = 9848`), in that
/// precedence; `ServeSettings` reads them all through swift-configuration.
public enum ServeKey: String, CaseIterable, Sendable {
    case host, port
    case grpcPort = "grpc-port"
    case dataDir = "data-dir"
    case database
    case logLevel = "log-level"
    case healthCheckInterval = "health-check-interval"
    case members
    case clusterConf = "cluster-conf"
    case clusterSecret = "cluster-secret"
    case advertise
    case replicaLease = "replica-lease"
    case verifyInterval = "verify-interval"
    case auth
    case tokenTTL = "token-ttl"
    case tokenSecret = "token-secret"
    case adminPasswordFile = "admin-password-file"
    case maxConnectionsPerIP = "max-connections-per-ip"
    case maxRequestsPerSecond = "max-requests-per-second"
    case requestBurst = "request-burst"
    case httpHeaderTimeout = "http-header-timeout"
    case httpIdleTimeout = "http-idle-timeout"
    case handshakeTimeout = "handshake-timeout"
    case tlsCert = "tls-cert"
    case tlsKey = "tls-key"
    case tlsMode = "tls-mode"
    case tlsClientCA = "tls-client-ca"
    case peerTLSCert = "peer-tls-cert"
    case peerTLSKey = "peer-tls-key"
    case peerTLSCA = "peer-tls-ca"
    case consolePort = "console-port"
    case consoleAssets = "console-assets"
    case metrics

    public var flag: String { "--" + rawValue }

    public var environmentVariable: String {
        "REGISTRAR_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Values that must not reach a log or an access report.
    public var isSecret: Bool { self == .database || self == .clusterSecret || self == .tokenSecret }

    /// Keys whose value is a comma-separated list.
    var isList: Bool { self == .members }

    public var help: String {
        switch self {
        case .host: "Address to bind (default 0.0.0.0)."
        case .port: "Main port P (default 8848); gRPC for SDKs listens on P+1000, the cluster on P+1001."
        case .grpcPort: "Override the SDK gRPC port (default P+1000)."
        case .dataDir: "Data directory (default ./data)."
        case .database:
            """
            PostgreSQL for durable data, shared by every member: postgres://user:pass@host:5432/db?sslmode=require \
            (prefer REGISTRAR_DATABASE: a flag shows in the process list). Default: <data-dir>'s SQLite file.
            """
        case .logLevel: "trace, debug, info, notice, warning, error or critical (default info)."
        case .healthCheckInterval: "Seconds between active checks of each persistent instance (default 5)."
        case .members: "Cluster mode: every member as host:port (main ports), comma-separated, this node included."
        case .clusterConf: "Cluster mode: a file with one member host:port per line ('#' comments)."
        case .clusterSecret: "Cluster mode: the identity every member shares (required in cluster mode)."
        case .advertise:
            "Cluster mode: this node's host:port as the member list names it (default: found among local addresses)."
        case .replicaLease: "Cluster mode: seconds a peer's clients outlive its silence (default 20)."
        case .verifyInterval: "Cluster mode: seconds between digests sent to each peer (default 5)."
        case .auth:
            """
            Who must log in: auto (default: like on once an admin password exists; until then only \
            loopback clients are served), on, or off.
            """
        case .tokenTTL: "Seconds an access token stays valid (default 18000)."
        case .tokenSecret:
            "Base64 key (32+ bytes) that signs tokens; the same on every member. Default: <data-dir>/token.secret."
        case .adminPasswordFile:
            "A file holding the first password of the admin 'nacos' (or set \(ServeSettings.adminPasswordVariable))."
        case .maxConnectionsPerIP: "SDK connections one IP address may hold at once (default 2000)."
        case .maxRequestsPerSecond:
            "Requests per second one SDK connection may send on average; 0: no limit (default 20000)."
        case .requestBurst: "Requests one SDK connection may send at once above that rate (default twice the rate)."
        case .httpHeaderTimeout: "Seconds a new HTTP connection has to send its first request's headers (default 10)."
        case .httpIdleTimeout: "Seconds an idle HTTP keep-alive connection stays open (default 60)."
        case .handshakeTimeout: "Seconds a gRPC or cluster connection has to complete the HTTP/2 preface (default 10)."
        case .tlsCert:
            "PEM certificate chain: TLS on the SDK gRPC port (ALPN h2) and the HTTP port; plaintext is refused."
        case .tlsKey: "PEM private key of --tls-cert."
        case .tlsMode: "required (default with --tls-cert): plaintext is refused; optional: both, on the same ports."
        case .tlsClientCA: "PEM CA: clients must present a certificate it signed (mutual TLS)."
        case .peerTLSCert: "Cluster mode: this member's PEM certificate for peers."
        case .peerTLSKey: "Cluster mode: the PEM private key of --peer-tls-cert."
        case .peerTLSCA: "Cluster mode: PEM CA of the members; peers must present a certificate it signed (mutual TLS)."
        case .consolePort: "Also serve the web console on this port (it is always at /nacos/ on the main port)."
        case .consoleAssets:
            "Serve the console's files from this directory instead of the copy built in (for working on them)."
        case .metrics: "on (default) or off: metrics at /metrics and /nacos/actuator/prometheus (off: to measure cost)."
        }
    }

    /// Every flag, for error messages.
    static var optionList: String { (allCases.map(\.flag) + ["--config"]).joined(separator: ", ") }

    /// The options part of `registrar serve --help`, one key per entry.
    public static var usage: String {
        allCases.map { "\($0.flag) <value>    (env \($0.environmentVariable))\n\($0.help)" }
            .joined(separator: "\n\n")
    }
}
