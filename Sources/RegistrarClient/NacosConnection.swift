import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import RegistrarTransport
import RegistrarWire
import Synchronization

/// A low-level Nacos 2.x SDK connection: one HTTP/2 connection with its bi-stream, set up the
/// way the official clients do it (ServerCheck, ConnectionSetupRequest, wait for SetupAck).
///
/// Pushes (`NotifySubscriberRequest`) and `ClientDetectionRequest`s are acknowledged
/// automatically unless `autoAck` is false; every server request is also delivered on
/// `serverRequests`.
///
/// Threading: thread-safe; all methods may be called from any task.
public final class NacosConnection: Sendable {
    /// A server-to-client request received on the bi-stream.
    public struct ServerRequest: Sendable {
        public var message: WireMessage
        public var requestId: String
    }

    public let transport: GRPCClientConnection
    public let connectionId: String
    /// Every request the server sent on the stream, in order.
    public let serverRequests: AsyncStream<ServerRequest>
    private let continuation: AsyncStream<ServerRequest>.Continuation
    private let stream: GRPCClientCall

    private init(
        transport: GRPCClientConnection, connectionId: String, stream: GRPCClientCall,
        serverRequests: AsyncStream<ServerRequest>, continuation: AsyncStream<ServerRequest>.Continuation
    ) {
        self.transport = transport
        self.connectionId = connectionId
        self.stream = stream
        self.serverRequests = serverRequests
        self.continuation = continuation
    }

    /// Connects and sets the connection up. Fails if the server is unreachable, answers with an
    /// error, or sends no SetupAck within `timeout`.
    public static func connect(
        host: String,
        port: Int,
        group: EventLoopGroup,
        labels: [String: String] = ["source": "sdk", "module": "naming"],
        clientVersion: String = "Registrar-Swift-Client:0.3.0",
        tenant: String = "",
        autoAck: Bool = true,
        timeout: TimeAmount = .seconds(5),
        tls: NIOSSLContext? = nil
    ) async throws -> NacosConnection {
        let transport = try await GRPCClientConnection.connect(
            host: host, port: port, group: group, connectTimeout: timeout, tls: tls)
        do {
            let check = try await unary(
                transport, type: "ServerCheckRequest", json: Array(#"{"headers":{},"requestId":""}"#.utf8),
                timeout: timeout)
            guard check.type == "ServerCheckResponse" else {
                throw NacosConnectionError.unexpectedResponse(check.type, String(decoding: check.json, as: UTF8.self))
            }
            let body = try JSONDecoder().decode(ServerCheckResponseBody.self, from: check.json)
            let (requests, continuation) = AsyncStream<ServerRequest>.makeStream()
            let setupAck = transport.eventLoop.makePromise(of: Void.self)
            let ackBox = AckSink()
            let call = try await transport.openCall(
                path: "/BiRequestStream/requestBiStream",
                onMessage: { bytes in
                    guard let message = try? PayloadCodec.decode(Array(bytes.readableBytesView)) else { return }
                    if message.type == "SetupAckRequest" {
                        setupAck.succeed(())
                        return
                    }
                    let requestId =
                        (try? JSONDecoder().decode(ServerRequestFields.self, from: message.json))?.requestId ?? ""
                    if autoAck { ackBox.ack(message.type, requestId: requestId) }
                    continuation.yield(ServerRequest(message: message, requestId: requestId))
                },
                onClose: { _ in
                    setupAck.fail(NacosConnectionError.streamClosed)
                    continuation.finish()
                }
            ).get()
            ackBox.call.withLock { $0 = call }
            let setup = ConnectionSetupRequest(
                clientVersion: clientVersion, tenant: tenant, labels: labels, abilityTable: [:])
            call.send(
                ByteBuffer(
                    bytes: PayloadCodec.encode(
                        type: "ConnectionSetupRequest", json: Array(try JSONEncoder().encode(setup)))))
            // Servers without ability negotiation (Nacos before 2.3) send no SetupAck.
            if body.supportAbilityNegotiation == true {
                let timer = transport.eventLoop.scheduleTask(in: timeout) {
                    setupAck.fail(NacosConnectionError.noSetupAck)
                }
                try await setupAck.futureResult.get()
                timer.cancel()
            }
            return NacosConnection(
                transport: transport, connectionId: body.connectionId ?? "", stream: call,
                serverRequests: requests, continuation: continuation)
        } catch {
            await transport.close()
            throw error
        }
    }

    /// Sends one unary request and returns the response payload. `headers` go in the Payload's
    /// metadata (`accessToken`, as Nacos clients send it).
    public func request(
        type: String, json: [UInt8], headers: [String: String] = [:], timeout: TimeAmount = .seconds(3)
    ) async throws -> WireMessage {
        try await NacosConnection.unary(transport, type: type, json: json, headers: headers, timeout: timeout)
    }

    /// Sends one unary request with an encodable body.
    public func request<T: Encodable>(
        _ type: String, _ body: T, headers: [String: String] = [:], timeout: TimeAmount = .seconds(3)
    ) async throws -> WireMessage {
        try await request(type: type, json: Array(try JSONEncoder().encode(body)), headers: headers, timeout: timeout)
    }

    /// Sends a response on the bi-stream (for callers that set `autoAck` to false).
    public func respond(type: String, requestId: String, resultCode: Int = 200) {
        let json = ResponseBody.make(
            resultCode: resultCode, errorCode: resultCode == 200 ? 0 : resultCode, requestId: requestId)
        stream.send(ByteBuffer(bytes: PayloadCodec.encode(type: type, json: json)))
    }

    /// Sends raw bytes as one message on the bi-stream (for robustness tests).
    public func sendRawOnStream(_ bytes: [UInt8]) {
        stream.send(ByteBuffer(bytes: bytes))
    }

    public func close() async {
        continuation.finish()
        await transport.close()
    }

    static func unary(
        _ transport: GRPCClientConnection, type: String, json: [UInt8], headers: [String: String] = [:],
        timeout: TimeAmount
    ) async throws -> WireMessage {
        let payload = ByteBuffer(bytes: PayloadCodec.encode(type: type, json: json, headers: headers))
        let response = try await transport.unary(path: "/Request/request", request: payload, timeout: timeout).get()
        return try PayloadCodec.decode(Array(response.readableBytesView))
    }
}

/// Acks server requests on the stream once the call exists.
private final class AckSink: Sendable {
    let call = Mutex<GRPCClientCall?>(nil)

    static let responseTypes = [
        "NotifySubscriberRequest": "NotifySubscriberResponse",
        "ClientDetectionRequest": "ClientDetectionResponse",
        "ConnectResetRequest": "ConnectResetResponse",
        // As the Java client does, both fuzzy-watch pushes are answered with one response type.
        "NamingFuzzyWatchSyncRequest": "NamingFuzzyWatchChangeNotifyResponse",
        "NamingFuzzyWatchChangeNotifyRequest": "NamingFuzzyWatchChangeNotifyResponse",
    ]

    func ack(_ type: String, requestId: String) {
        guard let responseType = AckSink.responseTypes[type], let call = call.withLock({ $0 }) else { return }
        let json = ResponseBody.make(requestId: requestId)
        call.send(ByteBuffer(bytes: PayloadCodec.encode(type: responseType, json: json)))
    }
}

/// Why a `NacosConnection` could not be set up.
public enum NacosConnectionError: Error, CustomStringConvertible {
    case unexpectedResponse(String, String)
    case noSetupAck
    case streamClosed

    public var description: String {
        switch self {
        case .unexpectedResponse(let type, let body): "unexpected \(type): \(body)"
        case .noSetupAck: "the server sent no SetupAckRequest"
        case .streamClosed: "the server closed the bi-stream"
        }
    }
}
