import NIOCore
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
        let wire: WireMessage
        do {
            wire = try PayloadCodec.decode(Array(message.readableBytesView))
        } catch {
            connection.runtime.counters.malformedPayloads.add(1, ordering: .relaxed)
            connection.logger.notice("rejecting unary call: \(error)")
            call.finish(GRPCStatus(.invalidArgument, "\(error)"))
            return
        }
        let reply = RequestDispatcher.handle(wire, connection: connection)
        var buffer = ByteBufferAllocator().buffer(capacity: reply.json.count + 48)
        buffer.writeBytes(PayloadCodec.encode(type: reply.type, json: reply.json))
        call.send(buffer, flush: false)
        call.finish(.ok)
        reply.afterResponse?()
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
        let wire: WireMessage
        do {
            wire = try PayloadCodec.decode(Array(message.readableBytesView))
        } catch {
            // As Nacos does: a payload that cannot be parsed is logged and dropped; the stream stays.
            connection.runtime.counters.malformedPayloads.add(1, ordering: .relaxed)
            connection.logger.notice("dropping malformed payload on the bi-stream: \(error)")
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
                connection.receivedStreamResponse(try BodyDecoder.decode(ResponseFields.self, from: wire), type: wire.type)
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
