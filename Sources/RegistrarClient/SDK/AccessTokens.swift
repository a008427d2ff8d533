import NIOSSL
import Synchronization

/// The access token of a client with a username and password: logged in over HTTP (https with
/// the client's TLS) at the first server that answers (`/nacos/v1/auth/login` on its main
/// port), kept until 10 s before it expires, and dropped when a server refuses it, so that the
/// next call logs in again. Any member's token is valid on every member of a cluster (they
/// share the token secret).
///
/// Threading: thread-safe.
final class AccessTokens: Sendable {
    private struct Token {
        var value: String
        var refreshAt: ContinuousClock.Instant
    }

    private let credentials: (username: String, password: String)?
    private let servers: [ServerAddress]
    private let timeout: Double
    private let tls: TLSConfiguration?
    private let current = Mutex<Token?>(nil)

    init(configuration: RegistrarClient.Configuration) {
        // RegistrarClient.init refuses a username without a password.
        credentials = configuration.username.flatMap { username in configuration.password.map { (username, $0) } }
        servers = configuration.servers
        timeout = Double(configuration.requestTimeout.components.seconds) + 1
        tls = configuration.tls
    }

    /// The metadata headers of a request: `accessToken` when the client has credentials.
    func headers() async throws(RegistrarClientError) -> [String: String] {
        guard let credentials else { return [:] }
        if let token = current.withLock({ $0 }), token.refreshAt > .now { return ["accessToken": token.value] }
        var failures: [String] = []
        for server in servers {
            do {
                let login = try await AdminHTTP(server: server, timeout: timeout, tls: tls)
                    .login(username: credentials.username, password: credentials.password)
                let refreshAt = ContinuousClock.now + .seconds(max(1, login.tokenTTL - 10))
                current.withLock { $0 = Token(value: login.accessToken, refreshAt: refreshAt) }
                return ["accessToken": login.accessToken]
            } catch let refused as AdminHTTP.LoginRefused {
                throw .server(
                    code: refused.status, message: "login as '\(credentials.username)' refused: \(refused.body)")
            } catch {
                failures.append("\(server): \(error)")
            }
        }
        throw .unavailable("cannot log in: \(failures.joined(separator: "; "))")
    }

    /// After a server refused the token: the next call logs in again.
    func invalidate() {
        current.withLock { $0 = nil }
    }

    var hasCredentials: Bool { credentials != nil }
}
