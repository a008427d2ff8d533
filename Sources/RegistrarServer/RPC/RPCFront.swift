import Logging
import NIOCore

/// The SDK gRPC front: what all of its connections share, given by the composition root. Each
/// `RPCConnection` gets this and nothing else.
///
/// Threading: thread-safe; every member is.
final class RPCFront: Sendable {
    struct Settings: Sendable {
        /// A connection that has not sent ConnectionSetupRequest by then is closed.
        var setupTimeout: TimeAmount
        /// How long a ClientDetectionRequest may go unanswered before the connection is dropped.
        var detectionTimeout: TimeAmount
        var push: PushSettings
        /// Unary requests per connection.
        var requestRate: RequestRateLimit.Settings
    }

    let naming: NamingContext
    let access: AccessControl
    let connections: ConnectionTable
    let fuzzyWatch: FuzzyWatchIndex
    let readiness: Readiness
    let settings: Settings
    let requestIds: RequestIdGenerator
    let pushCounters: PushCounters
    let counters: RPCCounters
    let requests: RequestMetrics
    let logger: Logger

    init(
        naming: NamingContext, access: AccessControl, connections: ConnectionTable, fuzzyWatch: FuzzyWatchIndex,
        readiness: Readiness, settings: Settings,
        requestIds: RequestIdGenerator, pushCounters: PushCounters, counters: RPCCounters, requests: RequestMetrics,
        logger: Logger
    ) {
        self.requests = requests
        self.naming = naming
        self.access = access
        self.connections = connections
        self.fuzzyWatch = fuzzyWatch
        self.readiness = readiness
        self.settings = settings
        self.requestIds = requestIds
        self.pushCounters = pushCounters
        self.counters = counters
        self.logger = logger
    }
}
