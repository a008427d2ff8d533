import Hummingbird
import RegistrarWire

/// The answer of Nacos's v2 and v3 HTTP APIs (`Result` in nacos-api):
/// `{"code": 0, "message": "success", "data": …}`, or on failure the error's status with
/// `{"code": <NacosErrorCode>, "message": <its short text>, "data": <the reason>}`.
enum Envelope {
    /// Success, with `data` written by `write` (exactly one JSON value).
    static func ok(capacity: Int = 128, _ write: (inout JSONWriter) -> Void) -> Response {
        var json = JSONWriter(capacity: capacity)
        json.beginObject()
        json.key("code"); json.int(NacosErrorCode.success.rawValue)
        json.key("message"); json.string(NacosErrorCode.success.message)
        json.key("data"); write(&json)
        json.endObject()
        return V1Response.json(json.bytes)
    }

    /// Success with JSON already encoded as `data`.
    static func ok(raw data: [UInt8]) -> Response {
        ok(capacity: data.count + 48) { $0.raw(data) }
    }

    /// Success with a string `data` (Nacos answers writes with `"ok"`).
    static func ok(_ data: String = "ok") -> Response {
        ok { $0.string(data) }
    }

    static func ok(_ data: Bool) -> Response {
        ok { $0.bool(data) }
    }

    static func failure(_ error: V1Error) -> Response {
        var json = JSONWriter(capacity: 96 + error.message.utf8.count)
        json.beginObject()
        json.key("code"); json.int(error.code.rawValue)
        json.key("message"); json.string(error.code.message)
        json.key("data"); json.string(error.message)
        json.endObject()
        var response = V1Response.json(json.bytes)
        response.status = error.status
        return response
    }

    /// Whether `path` belongs to an API that answers in envelopes.
    static func isUsed(by path: String) -> Bool {
        path.hasPrefix("/nacos/v2/") || path.hasPrefix("/nacos/v3/")
    }
}
