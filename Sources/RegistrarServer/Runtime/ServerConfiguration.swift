import NIOCore

/// Everything `registrar serve` can be told. The defaults run a working single node with no
/// configuration at all.
public struct ServerConfiguration: Sendable {
    /// Address to bind (every interface by default).
    public var host = "0.0.0.0"
    /// The main (HTTP) port P. The SDK gRPC port is P+1000 and the cluster port P+1001, as in Nacos.
    public var port = 8848
    /// Overrides P+1000 for the SDK gRPC port.
    public var grpcPortOverride: Int?
    public var dataDirectory = "./data"
    /// A PostgreSQL URL: durable data lives there (shared by every member) instead of the
    /// data directory's SQLite file. Nil: SQLite, and in cluster mode no durable writes.
    public var database: String?

    /// Largest gRPC message accepted.
    public var maximumMessageSize = 10 * 1024 * 1024
    /// Server HTTP/2 PING after this much silence, and close if it is not answered in time.
    public var keepaliveInterval: TimeAmount = .seconds(5)
    public var keepaliveTimeout: TimeAmount = .seconds(5)

    /// A connection silent this long gets a ClientDetectionRequest (Nacos: 20 s).
    public var idleBeforeDetection: TimeAmount = .seconds(20)
    /// How long a ClientDetectionRequest may go unanswered before the connection is dropped.
    public var detectionTimeout: TimeAmount = .seconds(5)
    /// How often idle connections are looked for.
    public var livenessScanInterval: TimeAmount = .seconds(3)
    /// A connection that has not sent ConnectionSetupRequest by then is closed.
    public var setupTimeout: TimeAmount = .seconds(60)

    /// Further changes to a service within this window after a push are merged into one push.
    /// The first change is pushed at once.
    public var pushMergeWindow: TimeAmount = .milliseconds(20)
    /// Fuzzy-watch patterns one connection may hold, and services one pattern reports.
    public var fuzzyWatchPatternsPerConnection = 20
    public var fuzzyWatchMatchesPerPattern = 500
    /// Who must log in: `auto` (protected mode until an admin exists) by default.
    public var auth = AuthConfiguration()
    /// How long a push may wait for its ack before it is retried.
    public var pushAckTimeout: TimeAmount = .seconds(5)
    /// First retry delay; it doubles per attempt, up to `pushRetryMaximumDelay`.
    public var pushRetryDelay: TimeAmount = .seconds(1)
    public var pushRetryMaximumDelay: TimeAmount = .seconds(10)
    /// Attempts per push before it is abandoned (the next change pushes again).
    public var pushMaximumAttempts = 5

    /// How often v1 heartbeat deadlines are applied (Nacos: every 5 s).
    public var heartbeatScanInterval: TimeAmount = .seconds(1)
    /// A v1 UDP-push subscription lapses this long after the client's last list call (Nacos: 3 min).
    public var udpSubscriberLease: TimeAmount = .seconds(180)
    /// An unacked UDP push is sent once more after this (Nacos: 10 s).
    public var udpPushResendDelay: TimeAmount = .seconds(10)
    /// Local port of the UDP push socket (0: any free port).
    public var udpPushPort = 0
    /// Largest v1 form body read.
    public var maximumHTTPBodySize = 256 * 1024
    /// An HTTP keep-alive connection idle this long is closed, and so is one whose next request's
    /// headers have not all arrived by then.
    public var httpIdleTimeout: TimeAmount = .seconds(60)
    /// A new HTTP connection must deliver its first request's headers within this (slowloris).
    public var httpHeaderTimeout: TimeAmount = .seconds(10)
    /// A gRPC or cluster connection must complete the HTTP/2 preface within this.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Connections one IP address may hold on the SDK port; more are closed as they arrive.
    public var maximumConnectionsPerIP = 2000
    /// Unary requests per second one SDK connection may send on average (0: no limit), and its
    /// burst. The default is far above what an SDK sends (a few a second) and above what one
    /// bench connection sustains.
    public var requestsPerSecondPerConnection = 20_000
    public var requestBurstPerConnection = 40_000
    /// TLS on the SDK gRPC port and the HTTP port (required: plaintext is refused); nil: cleartext.
    public var tls: TLSSettings?

    /// Persistent instances: how often each is probed (±10% jitter), how long a probe may take,
    /// how many probes run at once, and how many results in a row flip an instance's health.
    public var healthCheckInterval: TimeAmount = .seconds(5)
    public var healthCheckTimeout: TimeAmount = .seconds(2)
    public var healthCheckConcurrency = 64
    public var healthCheckThreshold = 2

    /// Caps the data file at this many pages (4 KiB each): writes beyond it fail as on a full
    /// disk. Nil: limited only by the disk.
    public var dataFileMaximumPages: Int?

    /// Largest total size of an instance's metadata keys and values.
    public var maximumMetadataLength = 1024

    /// Metrics (`/metrics`, `/nacos/actuator/prometheus`, the JSON counters); off only to measure their cost.
    public var metricsEnabled = true
    /// Also serve the web console (it is always on the main port at `/nacos/`) on this port.
    public var consolePort: Int?
    /// Serve the console's files from this directory instead of the copy in the binary.
    public var consoleAssetsDirectory: String?

    /// Cluster mode: the other members (and this one) by main port. Empty: a standalone node.
    public var cluster = ClusterConfiguration()

    public init() {}

    public var grpcPort: Int { grpcPortOverride ?? (port + 1000) }
    public var clusterPort: Int { port + 1001 }
}
