import Foundation
import RegistrarTesting
import Testing

/// Every kind of bad v1 input gets a clear 4xx with a message, never a 5xx, and costs nothing
/// that was registered.
@Suite("v1 HTTP: bad input", .stopsWhatItStarts)
struct V1BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var query: [(String, String)]
        var form: [(String, String)]? = nil
        var body: (contentType: String, data: Data)? = nil
        var status: Int
        var message: String

        var description: String {
            "\(method) \(path) \(query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")) → \(status)"
        }
    }

    static let instance = "/nacos/v1/ns/instance"
    static let ok: [(String, String)] = [("serviceName", "svc"), ("ip", "10.9.0.1"), ("port", "80")]

    static func with(_ overrides: [(String, String)], without: Set<String> = []) -> [(String, String)] {
        let keys = Set(overrides.map(\.0))
        return ok.filter { !keys.contains($0.0) && !without.contains($0.0) } + overrides
    }

    static let cases: [Case] = [
        Case(
            method: "POST", path: instance, query: with([], without: ["serviceName"]), status: 400,
            message: "Param 'serviceName' is required."),
        Case(
            method: "POST", path: instance, query: with([], without: ["ip"]), status: 400,
            message: "Param 'ip' is required."),
        Case(
            method: "POST", path: instance, query: with([], without: ["port"]), status: 400,
            message: "Param 'port' is required."),
        Case(
            method: "POST", path: instance, query: with([("port", "abc")]), status: 400,
            message: "Param 'port' is illegal"),
        Case(
            method: "POST", path: instance, query: with([("port", "70000")]), status: 400,
            message: "between 0 and 65535"),
        Case(
            method: "POST", path: instance, query: with([("weight", "heavy")]), status: 400,
            message: "Param 'weight' is illegal"),
        Case(
            method: "POST", path: instance, query: with([("weight", "20000")]), status: 400,
            message: "The weights range from 0.0 to 10000.0"),
        Case(
            method: "POST", path: instance, query: with([("weight", "-1")]), status: 400,
            message: "The weights range from 0.0 to 10000.0"),
        Case(
            method: "POST", path: instance, query: with([("metadata", #"{"a":"#)]), status: 400,
            message: "metadata format incorrect"),
        Case(
            method: "POST", path: instance, query: with([("metadata", #"{"a":{"nested":1}}"#)]), status: 400,
            message: "metadata format incorrect"),
        Case(
            method: "POST", path: instance, query: with([("metadata", "a=b=c")]), status: 400,
            message: "metadata format incorrect"),
        Case(
            method: "POST", path: instance, query: with([("metadata", "k=" + String(repeating: "x", count: 2000))]),
            status: 400, message: "Metadata"),
        Case(
            method: "POST", path: instance, query: with([("serviceName", "has space")]), status: 400,
            message: "Param 'serviceName' is illegal"),
        Case(
            method: "POST", path: instance, query: with([("serviceName", "@@svc")]), status: 400,
            message: "groupName can't be empty"),
        Case(
            method: "POST", path: instance, query: with([("serviceName", "a@@b@@c")]), status: 400,
            message: "format as 'groupName@@serviceName'"),
        Case(
            method: "POST", path: instance, query: with([("groupName", "bad group")]), status: 400,
            message: "Param 'group' is illegal"),
        Case(
            method: "POST", path: instance, query: with([("namespaceId", "bad/ns")]), status: 400,
            message: "namespaceId"),
        Case(
            method: "POST", path: instance, query: with([("clusterName", "bad cluster")]), status: 400,
            message: "Param 'cluster' is illegal"),
        Case(
            method: "POST", path: instance, query: with([("metadata", #"{"preserved.heart.beat.interval":"20000"}"#)]),
            status: 400, message: "heart beat interval"),
        Case(
            method: "PUT", path: instance + "/beat", query: with([("beat", "{not json")]), status: 400,
            message: "Param 'beat' is illegal"),
        Case(
            method: "PUT", path: instance + "/beat", query: with([], without: ["ip"]), status: 400,
            message: "Param 'ip' is required."),
        Case(
            method: "GET", path: instance + "/list", query: [("serviceName", "svc"), ("udpPort", "x")], status: 400,
            message: "Param 'udpPort' is illegal"),
        Case(
            method: "GET", path: instance + "/list", query: [("serviceName", "svc"), ("clusters", "a b")], status: 400,
            message: "Param 'cluster' is illegal"),
        Case(
            method: "GET", path: "/nacos/v1/ns/service/list", query: [("pageSize", "10")], status: 400,
            message: "Param 'pageNo' is required."),
        Case(
            method: "POST", path: "/nacos/v1/ns/service", query: [("serviceName", "svc2"), ("protectThreshold", "2")],
            status: 400, message: "protectThreshold"),
        Case(
            method: "POST", path: "/nacos/v1/ns/service", query: [("serviceName", "svc2"), ("selector", "{bad")],
            status: 400, message: "not match any type of selector!"),
        Case(
            method: "GET", path: "/nacos/v1/ns/nope", query: [], status: 404,
            message: "no such api:GET:/nacos/v1/ns/nope"),
        Case(method: "DELETE", path: "/nacos/v1/ns/instance/list", query: [], status: 404, message: "no such api"),
        Case(
            method: "POST", path: "/nacos/v1/auth/login", query: [("username", "nacos")], status: 400,
            message: "Param 'password' is required."),
        Case(
            method: "POST", path: instance, query: [],
            form: [
                ("serviceName", "svc"), ("ip", "10.9.0.2"), ("port", "80"),
                ("metadata", String(repeating: "y", count: 300 * 1024)),
            ],
            status: 413, message: "too large"),
        Case(
            method: "POST", path: instance, query: [],
            body: ("application/json", Data(#"{"serviceName":"svc","ip":"10.9.0.3","port":80}"#.utf8)),
            status: 400, message: "JSON body was not read"),
    ]

    @Test func eachBadRequestGetsAClear4xxAndRegisteredDataSurvives() async throws {
        let server = try await TestServer.start()
        let http = server.http
        #expect(try await http.register("svc", ip: "10.9.0.1", port: 80).body == "ok")
        for bad in Self.cases {
            let reply = try await http.call(bad.method, bad.path, bad.query, form: bad.form, body: bad.body)
            #expect(reply.status == bad.status, "\(bad): got \(reply.status) \(reply.body)")
            #expect(reply.body.contains(bad.message), "\(bad): body was \(reply.body.prefix(200))")
            #expect(reply.headers["content-type"]?.hasPrefix("text/plain") == true, "\(bad)")
        }
        // Nothing registered was lost, and the server still serves.
        let list = try await http.list("svc")
        #expect(list.hosts.map { $0["ip"] as? String } == ["10.9.0.1"])
        #expect(try await http.call("GET", "/nacos/v1/ns/operator/metrics").object["status"] as? String == "UP")
    }
}
