import NIOCore

/// One flush per read burst: writes made while a connection is reading wait for the end of the
/// burst (`channelReadComplete`) and then go out together in one `writev`; writes made outside
/// a read burst (timers, hops from other loops) are flushed at once.
///
/// Not thread-safe: one instance belongs to one connection handler, on its event loop.
struct ReadBurstFlush {
    private var reading = false
    private var pending = false

    /// A read of the burst arrived.
    mutating func readStarted() {
        reading = true
    }

    /// Something was written; `flush: false` leaves it for the next flush.
    mutating func wrote(flush: Bool, context: ChannelHandlerContext) {
        if flush && !reading {
            pending = false
            context.flush()
        } else {
            pending = true
        }
    }

    /// The burst ended: flush what it wrote.
    mutating func readComplete(context: ChannelHandlerContext) {
        reading = false
        if pending {
            pending = false
            context.flush()
        }
    }
}
