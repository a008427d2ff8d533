import NIOCore
import NIOEmbedded
import NIOHTTP2
import RegistrarWire

@testable import RegistrarTransport

/// The server side of one gRPC connection on an `EmbeddedChannel`: NIO's HTTP/2 handler and our
/// frame handler, with a router that decodes every message as a `Payload` and answers it, as the
/// real server's handlers do. A fuzz input is what a client writes after the connection preface.
///
/// Threading: everything runs on the calling thread, the embedded loop's.
enum GRPCFrameFuzz {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let maximumMessageSize = 1 << 20

    static func run(_ bytes: [UInt8]) {
        let channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.addHandlers(
                NIOHTTP2Handler(mode: .server),
                GRPCServerFrameHandler(router: AnsweringRouter(), maximumMessageSize: maximumMessageSize))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9848)).wait()
            try channel.writeInbound(ByteBuffer(bytes: preface + bytes))
        } catch {
            // A protocol error closes the connection, as it would on a socket.
        }
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    /// The bytes a real client (NIO's HTTP/2 handler and our client frame handler) writes after
    /// the preface to make one call on `path` with `message`: a seed that reaches the frame handler.
    static func clientBytes(path: String, message: [UInt8]) throws -> [UInt8] {
        let channel = EmbeddedChannel()
        let frames = GRPCClientFrameHandler(maximumMessageSize: maximumMessageSize)
        try channel.pipeline.syncOperations.addHandlers(NIOHTTP2Handler(mode: .client), frames)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9848)).wait()
        let headers = GRPCClientConnection.requestHeaders(path: path, authority: "localhost", timeout: nil)
        let consumer = GRPCClientFrameHandler.Consumer.callbacks(onMessage: { _ in }, onClose: { _ in })
        if let stream = frames.open(headers: headers, timeout: nil, consumer: consumer, flush: false) {
            frames.send(ByteBuffer(bytes: message), on: stream, endStream: true)
        }
        channel.flush()
        var written: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            written += buffer.readableBytesView
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        guard written.starts(with: preface) else { return written }
        return Array(written.dropFirst(preface.count))
    }
}

/// Answers every call: each message is decoded as a `Payload` and answered with one, and the
/// call ends when the client half-closes.
private final class AnsweringRouter: GRPCServerConnectionHandler, @unchecked Sendable {
    func handler(forPath path: String, call: GRPCServerCall) -> (any GRPCServerCallHandler)? {
        path.hasPrefix("/Request/") || path.hasPrefix("/BiRequestStream/") ? AnsweringCall() : nil
    }

    func connectionClosed() {}
}

private final class AnsweringCall: GRPCServerCallHandler {
    func received(message: ByteBuffer, on call: GRPCServerCall) {
        let type = (try? PayloadCodec.decode(Array(message.readableBytesView)))?.type ?? "ErrorResponse"
        call.send(ByteBuffer(bytes: PayloadCodec.encode(type: type, json: Array("{}".utf8))))
    }

    func inboundFinished(on call: GRPCServerCall) {
        call.finish(.ok)
    }
}
