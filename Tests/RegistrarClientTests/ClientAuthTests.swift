import Logging
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import Testing

/// The Swift SDK against a server with auth on: it logs in with its username and password,
/// sends the token with every call, and reports a refusal clearly.
@Suite("RegistrarClient with auth", .stopsWhatItStarts)
struct ClientAuthTests {
    static let adminPassword = "sdk-admin-pass-1"

    /// A client that finds the HTTP port (login) at the server address and gRPC by the offset.
    private func client(_ server: TestServer, username: String?, password: String?) throws -> RegistrarClient {
        var configuration = RegistrarClient.Configuration(servers: [
            ServerAddress(host: "127.0.0.1", port: server.http.port)
        ])
        configuration.grpcPortOffset = server.port - server.http.port
        configuration.username = username
        configuration.password = password
        configuration.connectTimeout = .seconds(1)
        configuration.maximumBackoff = .milliseconds(500)
        var logger = Logger(label: "test-sdk-auth")
        logger.logLevel = .critical
        let client = try RegistrarClient(configuration: configuration, logger: logger)
        tearDownAfterTest { await client.shutdown() }
        return client
    }

    @Test func credentialsAreUsedAndMissingOrWrongOnesAreRefusedClearly() async throws {
        let server = try await TestServer.start {
            $0.auth.mode = .on
            $0.auth.initialAdminPassword = Self.adminPassword
            $0.auth.bcryptCost = 4
        }
        let admin = try client(server, username: "nacos", password: Self.adminPassword)
        try await admin.registerInstance(ServiceInstance(ip: "10.3.3.3", port: 80), service: "sdk-auth")
        #expect(try await admin.allInstances(service: "sdk-auth").map(\.ip) == ["10.3.3.3"])

        let anonymous = try client(server, username: nil, password: nil)
        do {
            _ = try await anonymous.allInstances(service: "sdk-auth")
            Issue.record("a client without credentials was served")
        } catch let error {
            #expect("\(error)".contains("403") || "\(error)".contains("access token"), "\(error)")
        }
        let wrong = try client(server, username: "nacos", password: "not-the-password")
        do {
            _ = try await wrong.allInstances(service: "sdk-auth")
            Issue.record("a client with a wrong password was served")
        } catch let error {
            #expect("\(error)".contains("login as 'nacos' refused"), "\(error)")
        }
    }

    @Test func aUsernameWithoutAPasswordIsRefusedNotSentWithAnEmptyOne() throws {
        var configuration = RegistrarClient.Configuration(servers: [ServerAddress(host: "127.0.0.1", port: 1)])
        configuration.username = "nacos"
        #expect(throws: RegistrarClientError.invalidArgument("username 'nacos' is set without a password")) {
            let client = try RegistrarClient(configuration: configuration)
            tearDownAfterTest { await client.shutdown() }
        }
    }

    /// A login at a server that is not there must fail at once, so the next server is tried:
    /// the shared HTTP client does not retry a refused connection until the call's deadline.
    @Test func aCallToARefusedPortFailsAtOnceInsteadOfWaitingOutItsTimeout() async throws {
        let closed = try await TestServer.start()
        let port = closed.http.port
        await closed.stop()
        let http = AdminHTTP(server: ServerAddress(host: "127.0.0.1", port: port), timeout: 120)
        let outcome = try await withTimeout(.seconds(20)) { () -> String in
            do {
                _ = try await http.login(username: "nacos", password: "unused-password")
                return "answered"
            } catch let failure as AdminHTTP.Failure {
                return failure.description
            }
        }
        #expect(outcome.contains("failed"), "\(outcome)")
    }
}
