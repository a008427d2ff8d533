import NIOCore

/// A token bucket per SDK connection: `rate` requests a second on average, bursts of up to
/// `burst`. A request over it is answered at once with an error and costs nothing else, so
/// one flooding client cannot take the loop from the others on it.
///
/// Threading: a value owned by its connection, used on the connection's event loop.
struct RequestRateLimit {
    struct Settings: Sendable {
        /// Requests per second; 0 turns the limit off.
        var rate: Int
        var burst: Int
    }

    private let settings: Settings
    private var tokens: Double
    private var refilledAt: NIODeadline

    init(_ settings: Settings, now: NIODeadline) {
        self.settings = settings
        self.tokens = Double(settings.burst)
        self.refilledAt = now
    }

    /// Takes one token if there is one.
    mutating func admit(now: NIODeadline) -> Bool {
        guard settings.rate > 0 else { return true }
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        refilledAt = now
        tokens = min(Double(settings.burst), tokens + elapsed * Double(settings.rate))
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
