import NIOCore

/// One repeating timer per event loop that drives the keepalive of every connection on that loop.
///
/// Why: a timer per connection costs a scheduled task, a promise and a slot in the loop's timer
/// heap, about 300 bytes for each of 10k idle connections, and 10k wake-ups per interval. A
/// single tick that walks the loop's connections costs neither, and its period (a quarter of the
/// shorter keepalive setting, at most a second) also makes the PING time more precise.
///
/// The timer runs only while the loop has connections.
///
/// Threading: loop-bound; every method must be called on `eventLoop`.
final class KeepaliveClock {
    let eventLoop: EventLoop
    /// Idle time before a connection is PINGed.
    let interval: TimeAmount
    /// How long a PING may go unanswered before the connection is closed.
    let timeout: TimeAmount
    private let tick: TimeAmount
    private var members: [ObjectIdentifier: KeepaliveHandler] = [:]
    private var timer: Scheduled<Void>?

    init(eventLoop: EventLoop, interval: TimeAmount, timeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.interval = interval
        self.timeout = timeout
        self.tick = max(.milliseconds(10), min(.seconds(1), .nanoseconds(min(interval, timeout).nanoseconds / 4)))
    }

    func add(_ handler: KeepaliveHandler) {
        eventLoop.assertInEventLoop()
        members[ObjectIdentifier(handler)] = handler
        if timer == nil { scheduleSweep() }
    }

    func remove(_ handler: KeepaliveHandler) {
        eventLoop.assertInEventLoop()
        members.removeValue(forKey: ObjectIdentifier(handler))
        if members.isEmpty {
            timer?.cancel()
            timer = nil
        }
    }

    private func scheduleSweep() {
        timer = eventLoop.assumeIsolated().scheduleTask(in: tick) { [weak self] in
            guard let self, self.timer != nil else { return }
            self.sweep()
            if !self.members.isEmpty { self.scheduleSweep() }
        }
    }

    private func sweep() {
        let now = NIODeadline.now()
        // A check may close its connection, which removes it from `members` while we iterate:
        // walk a copy.
        for handler in members.values {
            handler.check(now: now)
        }
    }
}
