import NIOCore
import RegistrarCore
import RegistrarTransport
import RegistrarWire

/// `/Request/request`: one Payload in, one Payload out, handled on the connection's event loop.
final class UnaryCallHandler: GRPCServerCallHandler {
    private let connection: RPCConnection
    private var answered = false

    init(connection: RPCConnection) {
        self.connection = connection
    }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        guard !answered else {
            call.finish(GRPCStatus(.invalidArgument, "a unary call carries exactly one message"))
            return
        }
        answered = true
        guard
            let wire = decodePayload(
                message, connection: connection, context: "unary call",
                onError: { error in
                    call.finish(GRPCStatus(.invalidArgument, "\(error)"))
                })
        else { return }
        let started = ContinuousClock.now
        let metrics = connection.front.requests.grpc(wire.type)
        let reply = RequestDispatcher.handle(wire, connection: connection)
        if let deferred = reply.deferred {
            let changes = connection.front.naming.changes
            let type = reply.type
            connection.eventLoop.makeFutureWithTask { await deferred() }.assumeIsolated().whenSuccess { outcome in
                Self.answer(call, type: type, json: outcome.json)
                metrics.record(ok: ResponseBody.isSuccess(outcome.json), since: started)
                changes.servicesChanged(outcome.changed)
            }
            return
        }
        Self.answer(call, type: reply.type, json: reply.json)
        metrics.record(ok: ResponseBody.isSuccess(reply.json), since: started)
        reply.afterResponse?()
    }

    private static func answer(_ call: GRPCServerCall, type: String, json: [UInt8]) {
        guard !call.isFinished else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: json.count + 48)
        buffer.writeBytes(PayloadCodec.encode(type: type, json: json))
        call.send(buffer, flush: false)
        call.finish(.ok)
    }

    func inboundFinished(on call: GRPCServerCall) {
        if !answered {
            call.finish(GRPCStatus(.invalidArgument, "a unary call carries exactly one message; none arrived"))
        }
    }
}

/// `/BiRequestStream/requestBiStream`: the client's ConnectionSetupRequest and its responses to
/// server requests come in; server requests (pushes, detection, SetupAck) go out.
final class BiStreamCallHandler: GRPCServerCallHandler {
    private let connection: RPCConnection

    init(connection: RPCConnection) {
        self.connection = connection
    }

    func received(message: ByteBuffer, on call: GRPCServerCall) {
        // As Nacos does: a payload that cannot be parsed is logged and dropped; the stream stays.
        guard let wire = decodePayload(message, connection: connection, context: "bi-stream", onError: { _ in }) else {
            return
        }
        if wire.type == "ConnectionSetupRequest" {
            do {
                let request = try BodyDecoder.decode(ConnectionSetupRequest.self, from: wire)
                connection.setUp(request, clientIp: wire.clientIp, on: call)
            } catch {
                connection.logger.notice("dropping ConnectionSetupRequest: \(error)")
            }
        } else if wire.type.hasSuffix("Response") {
            guard connection.isRegistered else {
                connection.logger.notice("dropping \(wire.type) on a stream that has not sent ConnectionSetupRequest")
                return
            }
            do {
                connection.receivedStreamResponse(
                    try BodyDecoder.decode(ResponseFields.self, from: wire), type: wire.type)
            } catch {
                connection.logger.notice("dropping \(wire.type) on the bi-stream: \(error)")
            }
        } else {
            // Clients send requests as unary calls; a request on the stream is a client bug.
            connection.logger.notice("ignoring \(wire.type) sent on the bi-stream; requests belong on /Request/request")
        }
    }

    func inboundFinished(on call: GRPCServerCall) {
        call.finish(.ok)
        connection.streamClosed(call)
    }

    func closed(_ call: GRPCServerCall) {
        connection.streamClosed(call)
    }
}

/// Reads the protobuf envelope; on failure counts it, logs it, and lets the caller answer.
private func decodePayload(
    _ message: ByteBuffer, connection: RPCConnection, context: String, onError: (WireError) -> Void
) -> WireMessage? {
    do {
        return try PayloadCodec.decode(Array(message.readableBytesView))
    } catch {
        connection.front.counters.malformedPayloads.add(1)
        connection.logger.notice("malformed payload on the \(context): \(error)")
        onError(error)
        return nil
    }
}
