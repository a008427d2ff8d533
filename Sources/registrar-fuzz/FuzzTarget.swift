import Foundation
import RegistrarCore
import RegistrarWire

@testable import RegistrarServer

/// One parser under fuzzing. Each takes arbitrary bytes and must answer with a value or a typed
/// error, never a crash (a trap, an ASan report or a leak is what libFuzzer reports). Where a
/// parser has a partner encoder, the round trip is checked too.
enum FuzzTarget: String, CaseIterable {
    /// The protobuf `Payload` envelope, then its JSON body as the request type it names.
    case payload
    /// A JSON body read as every request type (`JSONReader` where the type has it, else `JSONDecoder`).
    case json
    /// v1 parameters: query and form (split at the first NUL byte), decoded and read as the routes do.
    case v1
    /// A peer's message body: zlib inflate (with its size limit), then the Distro decoders and apply.
    case cluster
    /// Raw bytes into a server connection's HTTP/2 handler and our gRPC frame handler (`EmbeddedChannel`).
    case grpc

    var summary: String {
        switch self {
        case .payload: "PayloadCodec.decode, then BodyDecoder for the named type; encode/decode round trip"
        case .json: "BodyDecoder over every request type"
        case .v1: "V1Parameters(query:form:) and every accessor the v1 routes use"
        case .cluster: "ClusterWire.inflate, DistroJSON batch/digest/resend, Registry.applyReplica"
        case .grpc: "NIOHTTP2Handler + GRPCServerFrameHandler in an EmbeddedChannel"
        }
    }

    func run(_ bytes: [UInt8]) {
        switch self {
        case .payload: Self.payload(bytes)
        case .json: Self.json(Data(bytes))
        case .v1: Self.v1(bytes)
        case .cluster: Self.cluster(Data(bytes))
        case .grpc: GRPCFrameFuzz.run(bytes)
        }
    }

    // MARK: Targets

    private static func payload(_ bytes: [UInt8]) {
        guard let message = try? PayloadCodec.decode(bytes) else { return }
        decodeBody(message)
        let encoded = PayloadCodec.encode(
            type: message.type, json: Array(message.json), clientIp: message.clientIp, headers: message.headers)
        guard let again = try? PayloadCodec.decode(encoded) else {
            fatalError("a decoded payload does not decode after encoding: \(message.type)")
        }
        precondition(
            again.type == message.type && again.clientIp == message.clientIp && again.headers == message.headers
                && again.json == message.json,
            "the payload round trip changed the message")
    }

    private static func json(_ body: Data) {
        for (type, decode) in decoders { decode(WireMessage(type: type, json: body)) }
    }

    private static func decodeBody(_ message: WireMessage) {
        (decoders[message.type] ?? decode(ServerRequestFields.self))(message)
    }

    /// Every request type the server reads, by its Nacos name, and the model the dispatcher reads it as.
    static let decoders: [String: @Sendable (WireMessage) -> Void] = [
        "ConnectionSetupRequest": decode(ConnectionSetupRequest.self),
        "ServerCheckRequest": decode(ServerRequestFields.self),
        "HealthCheckRequest": decode(ServerRequestFields.self),
        "InstanceRequest": decode(InstanceRequest.self),
        "PersistentInstanceRequest": decode(InstanceRequest.self),
        "BatchInstanceRequest": decode(BatchInstanceRequest.self),
        "ServiceQueryRequest": decode(ServiceQueryRequest.self),
        "SubscribeServiceRequest": decode(SubscribeServiceRequest.self),
        "ServiceListRequest": decode(ServiceListRequest.self),
        "NamingFuzzyWatchRequest": decode(NamingFuzzyWatchRequest.self),
        "NotifySubscriberResponse": decode(ResponseFields.self),
    ]

    private static func decode<T: Decodable & Sendable>(_ type: T.Type) -> @Sendable (WireMessage) -> Void {
        { message in _ = try? BodyDecoder.decode(T.self, from: message) }
    }

    private static let validation = Validation()
    private static let v1Keys = [
        "serviceName", "groupName", "namespaceId", "ip", "clusterName", "healthy", "enabled", "ephemeral",
    ]

    private static func v1(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
        let query = String(decoding: bytes[..<split], as: UTF8.self)
        let form = split < bytes.endIndex ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : nil
        let parameters = V1Parameters(query: query, form: form)
        for key in v1Keys {
            _ = parameters.optional(key)
            _ = try? parameters.required(key)
            _ = parameters.bool(key, default: true)
        }
        _ = try? parameters.int("port")
        _ = try? parameters.port()
        _ = try? parameters.double("weight")
        _ = try? parameters.weight()
        _ = try? parameters.service(validation: validation)
        _ = try? parameters.metadata()
        if let beat = parameters.optional("beat") { _ = try? V1Parameters.parseMetadata(beat) }
    }

    /// What a peer may send: the limit is a real member's default.
    private static let inflateLimit = ClusterConfiguration().maximumInflatedSize

    private static func cluster(_ body: Data) {
        let inflated = try? ClusterWire.inflate(body, limit: inflateLimit)
        for candidate in [body, inflated].compactMap({ $0 }) {
            _ = try? DistroJSON.decodeDigest(candidate)
            _ = try? DistroJSON.decodeResend(candidate)
            guard let batch = try? DistroJSON.decodeBatch(candidate) else { continue }
            var registry = Registry(wallClock: { 1_000 })
            registry.enableReplication(member: "10.0.0.1:8848")
            for datum in batch.data { _ = try? registry.applyReplica(datum, leaseUntil: 5_000) }
            for deletion in batch.deleted { _ = registry.removeReplica(deletion, rememberUntil: 5_000) }
            precondition(
                (try? DistroJSON.decodeBatch(Data(DistroJSON.encode(batch)))) == batch,
                "a decoded Distro batch does not survive encode and decode")
        }
    }
}
