import NIOHTTP2

/// When to open an inbound flow-control window again. With no stream multiplexer (and its child
/// channels) in the pipeline, nothing else sends WINDOW_UPDATE, so both ends of our transport
/// keep the connection window and each stream's window open themselves.
enum InboundWindow {
    /// The window we keep: HTTP/2's initial size, which we never change in SETTINGS.
    static let target = 65_535

    /// The WINDOW_UPDATE increment to send when `remaining` bytes of a window are left, or `nil`
    /// while more than half of it is left (one update per half window, not one per frame).
    static func increment(remaining: Int) -> Int? {
        remaining <= target / 2 ? target - remaining : nil
    }

    /// The WINDOW_UPDATE frame `event` calls for, if any.
    static func update(for event: NIOHTTP2WindowUpdatedEvent) -> HTTP2Frame? {
        guard let remaining = event.inboundWindowSize, let increment = increment(remaining: remaining) else {
            return nil
        }
        return HTTP2Frame(streamID: event.streamID, payload: .windowUpdate(windowSizeIncrement: increment))
    }
}
