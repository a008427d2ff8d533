/// One flush per read burst: writes made while a connection is reading wait for the end of the
/// burst (`channelReadComplete`) and then go out together in one `writev`; writes made outside
/// a read burst (timers, hops from other loops) are flushed at once.
///
/// It only decides; the handler flushes. (Flushing inside a mutating method would hold access
/// to this state while the flush re-enters the handler, say to report a closed connection.)
///
/// Not thread-safe: one instance belongs to one connection handler, on its event loop.
struct ReadBurstFlush {
    private var reading = false
    private var pending = false

    /// A read of the burst arrived.
    mutating func readStarted() {
        reading = true
    }

    /// Something was written: whether to flush now. `flush: false` leaves it for the next flush.
    mutating func flushAfterWrite(flush: Bool) -> Bool {
        if flush && !reading {
            pending = false
            return true
        }
        pending = true
        return false
    }

    /// The burst ended: whether what it wrote needs a flush.
    mutating func flushAtReadComplete() -> Bool {
        reading = false
        defer { pending = false }
        return pending
    }
}
