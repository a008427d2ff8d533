import NIOCore
import NIOHTTP2

/// The application's side of one accepted HTTP/2 connection: it routes each new call to a
/// handler and hears when the connection ends.
///
/// Threading: `handler(forPath:call:)` and `connectionClosed()` are called on the connection's
/// event loop. The object itself must be `Sendable` because it is created for, and captured by,
/// the connection's channel initializers.
public protocol GRPCServerConnectionHandler: AnyObject, Sendable {
    /// Returns the handler for a new call, or `nil` to answer UNIMPLEMENTED.
    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)?
    /// The TCP connection closed, for any reason. Called once.
    func connectionClosed()
}

/// Facts about an accepted connection, and the controls the application has over it.
///
/// Threading: thread-safe; every control hops to the connection's event loop.
public struct GRPCConnectionInfo: Sendable {
    /// The HTTP/2 connection (parent) channel.
    public let channel: Channel
    public var eventLoop: EventLoop { channel.eventLoop }
    public let remoteAddress: SocketAddress?
    public let localAddress: SocketAddress?

    /// Sends GOAWAY (no error) so that the client opens no new streams, then closes the
    /// connection after `grace` (or sooner, if the client closes first).
    public func goAway(grace: TimeAmount) {
        let channel = self.channel
        channel.eventLoop.execute {
            let frame = HTTP2Frame(
                streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
            channel.writeAndFlush(frame, promise: nil)
            channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        }
    }

    /// Closes the connection at once.
    public func close() {
        channel.close(promise: nil)
    }
}
