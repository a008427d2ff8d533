import Foundation
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import RegistrarWire
import Testing

/// Auth on real servers over loopback: login, tokens on both fronts, permissions, the
/// protected mode, and secrets that differ between data directories.
@Suite("Auth: login, tokens, permissions", .stopsWhatItStarts)
struct AuthTests {
    static let adminPassword = "admin-pass-1234"

    static func secured(_ mode: AuthMode = .on) -> (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.auth.mode = mode
            configuration.auth.initialAdminPassword = adminPassword
            configuration.auth.bcryptCost = 4
        }
    }

    private func login(_ server: TestServer, _ username: String, _ password: String) async throws -> String {
        let reply = try await server.http.call(
            "POST", "/nacos/v1/auth/login", form: [("username", username), ("password", password)])
        #expect(reply.status == 200, "login of \(username): \(reply.body)")
        let token = try #require(reply.object["accessToken"] as? String)
        #expect(reply.headers["authorization"] == "Bearer \(token)")
        #expect(reply.object["tokenTtl"] as? Int == 18_000)
        return token
    }

    @Test func httpNeedsAValidTokenAndUserAgentIsNoIdentity() async throws {
        let server = try await TestServer.start(Self.secured())
        let register: [(String, String)] = [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "80")]
        let anonymous = try await server.http.call("POST", "/nacos/v1/ns/instance", register)
        #expect(anonymous.status == 403 && anonymous.body.contains("no access token"))
        let spoofed = try await server.http.call(
            "POST", "/nacos/v1/ns/instance", register, headers: ["User-Agent": "Nacos-Server"])
        #expect(spoofed.status == 403, "CVE-2021-29441: User-Agent must not skip auth")
        let forged = try await server.http.call("POST", "/nacos/v1/ns/instance", register + [("accessToken", "x.y.z")])
        #expect(forged.status == 403)
        #expect(try await server.http.list("orders").status == 403)

        let token = try await login(server, "nacos", Self.adminPassword)
        #expect(
            try await server.http.call("POST", "/nacos/v1/ns/instance", register + [("accessToken", token)]).body
                == "ok")
        let bearer = try await server.http.list("orders", headers: ["Authorization": "Bearer \(token)"])
        #expect(bearer.status == 200 && bearer.hosts.count == 1)
        // Probes stay open.
        #expect(try await server.http.call("GET", "/nacos/v1/console/health/readiness").status == 200)
        let wrong = try await server.http.call(
            "POST", "/nacos/v1/auth/login", form: [("username", "nacos"), ("password", "wrong-password")])
        #expect(wrong.status == 403 && !wrong.body.contains("accessToken"))
    }

    @Test func grpcRequestsCarryTheTokenInTheirHeaders() async throws {
        let server = try await TestServer.start(Self.secured())
        let token = try await login(server, "nacos", Self.adminPassword)
        let client = try await server.connect()
        let refused = try await client.register("pay", ip: "10.0.0.2", port: 80)
        #expect(refused.resultCode == 500 && refused.errorCode == 403, "\(refused)")
        #expect(try await client.query("pay").serviceInfo?.hosts?.isEmpty ?? true)

        let request = InstanceRequest(
            namespace: "public", serviceName: "pay", groupName: "DEFAULT_GROUP", type: "registerInstance",
            instance: InstanceBody(
                ip: "10.0.0.2", port: 80, weight: 1, healthy: true, enabled: true, clusterName: "DEFAULT"))
        let accepted = try decode(
            ResponseFields.self,
            try await client.request("InstanceRequest", request, headers: ["accessToken": token]))
        #expect(accepted.resultCode == 200, "\(accepted)")
        #expect(try await server.http.list("pay", [("accessToken", token)]).hosts.count == 1)
        #expect(try await server.metric("grpcAccessRefusals", token: token) ?? 0 >= 1)
    }

    @Test func aReadOnlyUserCanListButNotRegister() async throws {
        let server = try await TestServer.start(Self.secured())
        let admin = try await login(server, "nacos", Self.adminPassword)
        let http = server.http
        let asAdmin = [("accessToken", admin)]
        #expect(
            try await http.call(
                "POST", "/nacos/v1/auth/users", asAdmin + [("username", "reader"), ("password", "reader-pass-1")]
            ).status == 200)
        #expect(
            try await http.call(
                "POST", "/nacos/v1/auth/roles", asAdmin + [("role", "viewers"), ("username", "reader")]
            ).status == 200)
        #expect(
            try await http.call(
                "POST", "/nacos/v1/auth/permissions",
                asAdmin + [("role", "viewers"), ("resource", "public:*:*"), ("action", "r")]
            ).status == 200)
        #expect(try await http.register("catalog", ip: "10.0.0.3", port: 80, asAdmin).body == "ok")

        let reader = try await login(server, "reader", "reader-pass-1")
        #expect(try await http.list("catalog", [("accessToken", reader)]).hosts.count == 1)
        let write = try await http.register("catalog", ip: "10.0.0.4", port: 80, [("accessToken", reader)])
        #expect(write.status == 403 && write.body.contains("no 'w' permission"), "\(write.body)")
        let manage = try await http.call("GET", "/nacos/v1/auth/users", [("accessToken", reader)])
        #expect(manage.status == 403, "only an admin lists users")
        // The listing shows names, never password hashes.
        let users = try await http.call("GET", "/nacos/v3/auth/user/list", asAdmin)
        #expect(users.body.contains("reader") && !users.body.contains("$2"))

        // Deleting the user ends its token's rights at once.
        #expect(try await http.call("DELETE", "/nacos/v1/auth/users", asAdmin + [("username", "reader")]).status == 200)
        #expect(try await http.list("catalog", [("accessToken", reader)]).status == 403)
    }

    @Test func twoDataDirectoriesGetDifferentSecrets() async throws {
        let first = try await TestServer.start(Self.secured())
        let second = try await TestServer.start(Self.secured())
        let token = try await login(first, "nacos", Self.adminPassword)
        #expect(try await first.http.list("any", [("accessToken", token)]).status == 200)
        let elsewhere = try await second.http.list("any", [("accessToken", token)])
        #expect(elsewhere.status == 403 && elsewhere.body.contains("signature"))
    }

    @Test func protectedModeServesLoopbackUntilAnAdminExistsThenWantsTokens() async throws {
        let server = try await TestServer.start { $0.auth.bcryptCost = 4 }
        #expect(try await server.http.register("early", ip: "10.0.0.5", port: 80).body == "ok")
        let created = try await server.http.call(
            "POST", "/nacos/v3/auth/user/admin", form: [("password", Self.adminPassword)])
        #expect(created.status == 200, "\(created.body)")
        let again = try await server.http.call(
            "POST", "/nacos/v3/auth/user/admin", form: [("password", "another-pass-1")])
        #expect(again.status == 409)
        #expect(try await server.http.list("early").status == 403, "with an admin, loopback needs a token too")
        let token = try await login(server, "nacos", Self.adminPassword)
        #expect(try await server.http.list("early", [("accessToken", token)]).hosts.count == 1)
    }

    @Test func repeatedFailedLoginsAreSlowedDown() async throws {
        // A long first wait, so that a slow machine cannot outwait it between two attempts.
        let secured = Self.secured()
        let server = try await TestServer.start {
            secured(&$0)
            $0.auth.loginBackoff = .seconds(60)
        }
        var statuses: [Int] = []
        for _ in 0..<5 {
            statuses.append(
                try await server.http.call(
                    "POST", "/nacos/v1/auth/login", form: [("username", "nacos"), ("password", "guess-guess")]
                ).status)
        }
        #expect(statuses.prefix(3).allSatisfy { $0 == 403 })
        #expect(statuses.last == 429)
    }
}
