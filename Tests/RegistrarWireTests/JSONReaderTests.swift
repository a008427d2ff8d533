import Foundation
import RegistrarWire
import Testing

/// `JSONReader` reads the hot request types; `JSONDecoder` reads them too (they stay `Codable`).
/// Both must agree on every body: the same values, or both refuse it.
@Suite("JSONReader against JSONDecoder")
struct JSONReaderTests {
    private static let valid = [
        #"{"requestId":"r1","namespace":"public","serviceName":"orders","groupName":"G","type":"registerInstance","instance":{"ip":"10.0.0.1","port":8080,"weight":1.5,"healthy":true,"enabled":false,"ephemeral":true,"clusterName":"c","serviceName":"G@@orders","instanceId":"i","metadata":{"a":"1","b":""}}}"#,
        #"{"requestId":null,"namespace":null,"instance":null}"#,
        #"{}"#,
        " \n\t{ \"serviceName\" : \"s\" , \"instance\" : { \"port\" : -0 , \"weight\" : 2 } } \r\n",
        #"{"instance":{"port":8080.0,"weight":1e2,"metadata":{}}}"#,
        #"{"instance":{"port":1e3,"weight":-1.25E-3}}"#,
        #"{"serviceName":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","groupName":"grüße 😀"}"#,
        #"{"instance":{"metadata":{"k\"ey":"v\u0041","ключ":"значение"}}}"#,
        #"{"unknown":{"deep":[1,2.5,-3e4,true,false,null,"x",{"y":[[],{}]}]},"headers":{"a":"b"},"module":"naming","serviceName":"s"}"#,
        #"{"instance":{"port":9223372036854775807}}"#,
        #"{"instance":{"port":-9223372036854775808}}"#,
        #"{"instances":[{"ip":"a","port":1},{"ip":"b","metadata":null}],"type":"batchRegisterInstance"}"#,
        #"{"instances":[]}"#,
        #"{"instances":null}"#,
        #"{"cluster":"c1,c2","healthyOnly":true,"udpPort":0,"subscribe":false,"clusters":""}"#,
    ]

    private static let refused = [
        "", " ", "null", "[]", "1", #""s""#, "{", "}", #"{"a"}"#, #"{"a":}"#, #"{,"a":1}"#,
        #"{"a":1}x"#, #"{"a":1}{}"#, #"{'a':1}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":tru}"#, #"{"a":nul}"#,
        #"{"a":NaN}"#, #"{"a":"\u12"}"#, #"{"a":"unterminated}"#, #"{"a":[1 2]}"#,

        #"{"instance":{"port":"80"}}"#, #"{"instance":{"port":80.5}}"#, #"{"instance":{"port":1e400}}"#,
        #"{"instance":{"port":99999999999999999999}}"#, #"{"instance":{"weight":"1"}}"#,
        #"{"instance":{"weight":1e999}}"#,
        #"{"instance":{"healthy":"true"}}"#, #"{"instance":{"healthy":1}}"#, #"{"instance":5}"#, #"{"instance":[]}"#,
        #"{"instance":{"metadata":{"n":1}}}"#, #"{"instance":{"metadata":{"n":null}}}"#,
        #"{"instance":{"metadata":["a"]}}"#,
        #"{"serviceName":5}"#, #"{"serviceName":{"a":1}}"#, #"{"instances":{}}"#, #"{"instances":[5]}"#,
        #"{"instances":[null]}"#,
        #"{"instances":[{"port":"x"}]}"#, #"{"healthyOnly":"yes"}"#, #"{"udpPort":true}"#, #"{"subscribe":0}"#,
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        #"{"a":"#,
    ]

    /// Malformed values under keys `InstanceRequest` reads: both refuse them for that type
    /// (`JSONDecoder` checks a value only when it decodes it; see below).
    private static let malformedInstanceFields =
        [
            #"{"instance":{"port":01}}"#, #"{"instance":{"clusterName":"\x"}}"#, #"{"instance":{"ip":"\ud83d"}}"#,
            #"{"instance":{"weight":1.}}"#, #"{"instance":{"port":-}}"#, "{\"serviceName\":\"tab\there\"}",
            "{\"serviceName\":\"\u{1}\"}",
        ].map { Data($0.utf8) } + [Data(#"{"serviceName":""#.utf8) + [0xFF] + Data(#""}"#.utf8)]

    /// Malformed only under keys no type reads, or with a trailing comma: `JSONDecoder` lets
    /// these through, `JSONReader` does not (documented there).
    private static let toleratedOnlyByJSONDecoder = [
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":1e}"#, #"{"a":-}"#, "{\"a\":\"tab\there\"}", "{\"a\":\"\u{1}\"}",
        #"{"a":"\x"}"#, #"{"a":"\ud83d"}"#, #"{"a":1,}"#, #"{"a":[1,]}"#,
    ]

    private static var refusedBodies: [Data] { refused.map { Data($0.utf8) } }

    private func agree<T: Codable>(_ type: T.Type, _ body: Data) -> (fast: String, slow: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func outcome(_ decode: () throws -> T) -> String {
            do {
                return String(decoding: try encoder.encode(decode()), as: UTF8.self)
            } catch {
                return "refused"
            }
        }
        let message = WireMessage(type: "\(T.self)", json: body)
        return (
            outcome { try BodyDecoder.decode(T.self, from: message) },
            outcome { try JSONDecoder().decode(T.self, from: body) }
        )
    }

    /// Decodes `body` as every hot request type both ways; returns the fast outcomes.
    @discardableResult
    private func checkAll(_ body: Data) -> [String] {
        let text = String(decoding: body, as: UTF8.self)
        let outcomes = [
            agree(InstanceRequest.self, body), agree(BatchInstanceRequest.self, body),
            agree(ServiceQueryRequest.self, body),
            agree(SubscribeServiceRequest.self, body), agree(ServerRequestFields.self, body),
        ]
        for (fast, slow) in outcomes {
            #expect(fast == slow, "body \(text)")
        }
        return outcomes.map(\.fast)
    }

    @Test func acceptsWhatJSONDecoderAccepts() {
        for body in Self.valid {
            checkAll(Data(body.utf8))
            #expect(agree(InstanceRequest.self, Data(body.utf8)).fast != "refused", "body \(body)")
        }
    }

    @Test func refusesWhatJSONDecoderRefuses() {
        for body in Self.refusedBodies {
            // Each body is refused by at least one type (a wrong-typed field is only wrong for
            // the types that have it), and every type agrees with JSONDecoder.
            #expect(checkAll(body).contains("refused"), "body \(String(decoding: body, as: UTF8.self))")
        }
    }

    @Test func refusesMalformedValuesOfReadFields() {
        for body in Self.malformedInstanceFields {
            let (fast, slow) = agree(InstanceRequest.self, body)
            #expect(fast == "refused" && slow == "refused", "body \(String(decoding: body, as: UTF8.self))")
        }
    }

    @Test func refusesMalformedBodiesThatJSONDecoderTolerates() {
        for body in Self.toleratedOnlyByJSONDecoder.map({ Data($0.utf8) }) + [
            Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])
        ] {
            let text = String(decoding: body, as: UTF8.self)
            for (fast, slow) in [
                agree(InstanceRequest.self, body), agree(ServiceQueryRequest.self, body),
                agree(ServerRequestFields.self, body),
            ] {
                #expect(fast == "refused" && slow != "refused", "body \(text)")
            }
        }
    }

    @Test func aRepeatedKeyKeepsItsLastValue() throws {
        let body = WireMessage(
            type: "ServiceQueryRequest", json: Data(#"{"serviceName":"first","serviceName":"second"}"#.utf8))
        #expect(try BodyDecoder.decode(ServiceQueryRequest.self, from: body).serviceName == "second")
        #expect(try JSONDecoder().decode(ServiceQueryRequest.self, from: body.json).serviceName == "first")
    }

    @Test func errorsNameTheField() {
        func detail(_ body: String, as type: (some Decodable).Type) -> String? {
            do {
                _ = try BodyDecoder.decode(type, from: WireMessage(type: "T", json: Data(body.utf8)))
                return nil
            } catch {
                guard case .malformedBody(_, let detail) = error else { return "other" }
                return detail
            }
        }
        #expect(
            detail(#"{"instance":{"port":"80"}}"#, as: InstanceRequest.self) == "field 'instance.port' should be Int")
        #expect(detail(#"{"instance":7}"#, as: InstanceRequest.self) == "field 'instance' should be an object")
        #expect(
            detail(#"{"instances":[{},{"metadata":{"k":1}}]}"#, as: BatchInstanceRequest.self)
                == "field 'instances.[1].metadata.k' should be String")
        #expect(detail(#"{"healthyOnly":"yes"}"#, as: ServiceQueryRequest.self) == "field 'healthyOnly' should be Bool")
        #expect(detail(#"{"serviceName":"s",}"#, as: ServiceQueryRequest.self) == "body is not valid JSON")
        // A wrong type inside a document that is not JSON at all reports the document.
        #expect(detail(#"{"healthyOnly":"yes""#, as: ServiceQueryRequest.self) == "body is not valid JSON")
    }
}
