import Foundation
import RegistrarWire
import Testing

@Suite("Wire contract")
struct WireTests {
    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    private func instanceBody(_ json: String) throws(WireError) -> InstanceBody? {
        try BodyDecoder.decode(InstanceRequest.self, from: WireMessage(type: "InstanceRequest", json: Data(json.utf8)))
            .instance
    }

    @Test func instanceMetadataDecodesKeyByKey() throws {
        let body = try #require(
            try instanceBody(
                #"{"instance":{"ip":"10.0.0.1","port":8080,"weight":2.5,"healthy":true,"clusterName":"c1","metadata":{"zone":"a","k\"q":"caf\u00e9","preserved.register.source":"SPRING_CLOUD","empty":""},"unknown":{"x":[1,2]}}}"#
            ))
        #expect(body.ip == "10.0.0.1" && body.port == 8080 && body.weight == 2.5 && body.healthy == true)
        #expect(body.clusterName == "c1" && body.enabled == nil && body.ephemeral == nil)
        #expect(
            body.metadata == ["zone": "a", "k\"q": "café", "preserved.register.source": "SPRING_CLOUD", "empty": ""])
        #expect(try instanceBody(#"{"instance":{"ip":"10.0.0.1","metadata":null}}"#)?.metadata == nil)
        #expect(try instanceBody(#"{"instance":{"ip":"10.0.0.1"}}"#)?.metadata == nil)
        #expect(try instanceBody(#"{"instance":{"metadata":{}}}"#)?.metadata == [:])
    }

    @Test func nonStringMetadataIsAClearError() {
        for bad in [
            #"{"instance":{"metadata":{"n":1}}}"#, #"{"instance":{"metadata":{"n":null}}}"#,
            #"{"instance":{"metadata":["a"]}}"#,
        ] {
            #expect {
                _ = try instanceBody(bad)
            } throws: { error in
                guard case .malformedBody(let type, let detail)? = error as? WireError else { return false }
                return type == "InstanceRequest" && detail.contains("metadata")
            }
        }
    }

    @Test func writerEscapesStrings() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("s"); writer.string("quote\" backslash\\ newline\n tab\t bell\u{07} é")
        writer.endObject()
        let json = try object(writer.bytes)
        #expect(json["s"] as? String == "quote\" backslash\\ newline\n tab\t bell\u{07} é")
    }

    @Test func responsesLeaveOutAbsentFields() throws {
        let body = try object(ResponseBody.make(requestId: nil))
        #expect(body["message"] == nil && body["requestId"] == nil)
        #expect(body["resultCode"] as? Int == 200 && body["success"] as? Bool == true)
        let failure = try object(ResponseBody.error(code: 302, message: "RequestHandler Not Found"))
        #expect(
            failure["resultCode"] as? Int == 500 && failure["errorCode"] as? Int == 302
                && failure["success"] as? Bool == false)
        let ack = try object(ServerRequestBody.setupAck(abilities: [:]))
        #expect(ack["abilityTable"] != nil)
    }

    @Test func payloadRoundTripAndErrors() throws {
        let bytes = PayloadCodec.encode(
            type: "HealthCheckRequest", json: Array("{}".utf8), clientIp: "1.2.3.4", headers: ["app": "x"])
        let message = try PayloadCodec.decode(bytes)
        #expect(
            message.type == "HealthCheckRequest" && message.clientIp == "1.2.3.4" && message.headers == ["app": "x"])
        #expect(throws: WireError.self) { try PayloadCodec.decode([0xFF, 0xFF, 0xFF]) }
        #expect(throws: WireError.missingType) { try PayloadCodec.decode(PayloadCodec.encode(type: "", json: [])) }
    }

    @Test func bodiesAcceptNullsAndIgnoreUnknownKeys() throws {
        let json =
            #"{"type":"registerInstance","instance":{"ip":"1.1.1.1","port":1,"clusterName":null,"extra":{}},"requestId":null,"x":1}"#
        let request = try BodyDecoder.decode(
            InstanceRequest.self, from: WireMessage(type: "InstanceRequest", json: Data(json.utf8)))
        #expect(request.instance?.ip == "1.1.1.1" && request.instance?.clusterName == nil && request.requestId == nil)
        #expect(throws: WireError.self) {
            try BodyDecoder.decode(
                InstanceRequest.self,
                from: WireMessage(type: "InstanceRequest", json: Data(#"{"instance":{"port":"x"}}"#.utf8)))
        }
    }
}
