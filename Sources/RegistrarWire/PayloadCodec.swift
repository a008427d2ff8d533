import Foundation
import SwiftProtobuf

/// A decoded `Payload`: the `metadata.type` that names the JSON model, the headers, and the JSON.
public struct WireMessage: Sendable {
    public var type: String
    public var clientIp: String
    public var headers: [String: String]
    /// The UTF-8 JSON body (`Payload.body.value`).
    public var json: Data

    public init(type: String, clientIp: String = "", headers: [String: String] = [:], json: Data) {
        self.type = type
        self.clientIp = clientIp
        self.headers = headers
        self.json = json
    }
}

/// Why a payload or its body could not be read.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a protobuf `Payload`.
    case malformedPayload(String)
    /// `metadata.type` is missing.
    case missingType
    /// The JSON body is not valid JSON or does not fit the model named by `metadata.type`.
    case malformedBody(type: String, detail: String)

    public var description: String {
        switch self {
        case .malformedPayload(let detail): "malformed Payload: \(detail)"
        case .missingType: "Payload has no metadata.type"
        case .malformedBody(let type, let detail): "cannot parse \(type) body: \(detail)"
        }
    }
}

/// Encodes and decodes the protobuf `Payload` envelope.
public enum PayloadCodec {
    public static func decode<Bytes: SwiftProtobufContiguousBytes>(_ bytes: Bytes) throws(WireError) -> WireMessage {
        let payload: NacosPayload
        do {
            payload = try NacosPayload(serializedBytes: bytes)
        } catch {
            throw .malformedPayload(String(describing: error))
        }
        guard !payload.metadata.type.isEmpty else { throw .missingType }
        return WireMessage(
            type: payload.metadata.type, clientIp: payload.metadata.clientIp, headers: payload.metadata.headers,
            json: payload.body.value)
    }

    public static func encode(type: String, json: [UInt8], clientIp: String = "", headers: [String: String] = [:])
        -> [UInt8]
    {
        var payload = NacosPayload()
        payload.metadata.type = type
        payload.metadata.clientIp = clientIp
        payload.metadata.headers = headers
        payload.body.value = Data(json)
        // Serializing a message with no required fields cannot fail.
        return (try? payload.serializedBytes()) ?? []
    }
}

/// Decodes JSON bodies into the request models, treating `null` as absent and ignoring unknown keys.
public enum BodyDecoder {
    /// One decoder for every request: `JSONDecoder` is thread-safe, and making one per request
    /// cost an allocation and its options' lock each time.
    private static let decoder = JSONDecoder()

    public static func decode<T: Decodable>(_ type: T.Type, from message: WireMessage) throws(WireError) -> T {
        if let readable = T.self as? any JSONReadable.Type {
            let read = message.json.withUnsafeBytes { bytes in
                Result { () throws(JSONReadError) in try JSONReader.read(readable, from: bytes) }
            }
            switch read {
            case .success(let value): return value as! T
            case .failure(let error): throw .malformedBody(type: message.type, detail: error.detail)
            }
        }
        do {
            return try decoder.decode(T.self, from: message.json)
        } catch let error as DecodingError {
            throw .malformedBody(type: message.type, detail: describe(error))
        } catch {
            throw .malformedBody(type: message.type, detail: String(describing: error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context):
            "field '\(path(context))' should be \(type)"
        case .valueNotFound(let type, let context):
            "field '\(path(context))' is missing a \(type) value"
        case .keyNotFound(let key, _):
            "field '\(key.stringValue)' is missing"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "body is not valid JSON" : "field '\(path(context))' is invalid"
        @unknown default:
            "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
