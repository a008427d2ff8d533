/// Builders for the JSON bodies Registrar sends: responses to unary calls, and the requests the
/// server sends on a connection's stream. Shapes follow Nacos (Jackson NON_NULL): absent rather
/// than `null`, `success` mirrors `resultCode`.
public enum ResponseBody {
    /// A success or failure with the common fields, plus `extra` fields written by the caller.
    public static func make(
        resultCode: Int = 200,
        errorCode: Int = 0,
        message: String? = nil,
        requestId: String? = nil,
        extra: (inout JSONWriter) -> Void = { _ in }
    ) -> [UInt8] {
        var json = JSONWriter()
        json.beginObject()
        json.key("resultCode"); json.int(resultCode)
        json.key("errorCode"); json.int(errorCode)
        if let message { json.key("message"); json.string(message) }
        if let requestId { json.key("requestId"); json.string(requestId) }
        extra(&json)
        json.key("success"); json.bool(resultCode == 200)
        json.endObject()
        return json.bytes
    }

    /// Whether a body built by `make` reports success: each one starts `{"resultCode":200,`
    /// (read from the bytes, so that the metrics of a call cost no parse).
    public static func isSuccess(_ json: [UInt8]) -> Bool {
        json.starts(with: successPrefix)
    }

    private static let successPrefix = Array(#"{"resultCode":200,"#.utf8)

    /// `ErrorResponse`: Nacos sends resultCode 500 and the real code in errorCode.
    public static func error(code: Int, message: String, requestId: String? = nil) -> [UInt8] {
        make(resultCode: 500, errorCode: code, message: message, requestId: requestId)
    }

    public static func serverCheck(connectionId: String, requestId: String?) -> [UInt8] {
        make(requestId: requestId) { json in
            json.key("connectionId"); json.string(connectionId)
            json.key("supportAbilityNegotiation"); json.bool(true)
        }
    }

    public static func instance(type: String, requestId: String?) -> [UInt8] {
        make(requestId: requestId) { json in
            json.key("type"); json.string(type)
        }
    }

    public static func serviceInfo(_ serviceInfo: [UInt8], message: String? = nil, requestId: String?) -> [UInt8] {
        make(message: message, requestId: requestId) { json in
            json.key("serviceInfo"); json.raw(serviceInfo)
        }
    }

    public static func serviceList(count: Int, names: [String], requestId: String?) -> [UInt8] {
        make(requestId: requestId) { json in
            json.key("count"); json.int(count)
            json.key("serviceNames"); json.beginArray()
            for name in names { json.string(name) }
            json.endArray()
        }
    }
}

/// Bodies of the requests the server sends on a connection's bi-stream.
public enum ServerRequestBody {
    /// `NotifySubscriberRequest`, around an already-encoded ServiceInfo.
    public static func notifySubscriber(requestId: String, serviceInfo: [UInt8]) -> [UInt8] {
        var json = JSONWriter(capacity: serviceInfo.count + 96)
        json.beginObject()
        json.key("headers"); json.beginObject(); json.endObject()
        json.key("requestId"); json.string(requestId)
        json.key("module"); json.string("naming")
        json.key("serviceInfo"); json.raw(serviceInfo)
        json.endObject()
        return json.bytes
    }

    /// `SetupAckRequest`: the server's abilities. One-way; clients do not answer it.
    public static func setupAck(abilities: [String: Bool]) -> [UInt8] {
        var json = JSONWriter()
        json.beginObject()
        json.key("headers"); json.beginObject(); json.endObject()
        json.key("abilityTable"); json.beginObject()
        for (name, value) in abilities.sorted(by: { $0.key < $1.key }) {
            json.dynamicKey(name); json.bool(value)
        }
        json.endObject()
        json.key("module"); json.string("internal")
        json.endObject()
        return json.bytes
    }

    /// `ClientDetectionRequest`: "are you there?", answered with ClientDetectionResponse.
    public static func clientDetection(requestId: String) -> [UInt8] {
        var json = JSONWriter()
        json.beginObject()
        json.key("headers"); json.beginObject(); json.endObject()
        json.key("requestId"); json.string(requestId)
        json.key("module"); json.string("internal")
        json.endObject()
        return json.bytes
    }
}
