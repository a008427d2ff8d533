import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
/// The few operator calls that only the HTTP Open API offers (cluster members, removing an
/// instance registered over HTTP), for the CLI and the bench. They go to a server's main port.
public struct AdminHTTP: Sendable {
    public let server: ServerAddress
    public let timeout: Double

    public struct Reply: Sendable {
        public var status: Int
        public var body: String
    }

    /// A call that got no HTTP answer (bad URL, refused, timed out), with the URL in its text.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sent as the `accessToken` parameter of every call, for a server with auth.
    public var accessToken: String?

    public init(server: ServerAddress, timeout: Double, accessToken: String? = nil) {
        self.server = server
        self.timeout = timeout
        self.accessToken = accessToken
    }

    /// A login's answer.
    public struct Login: Sendable {
        public var accessToken: String
        /// Seconds the token is valid.
        public var tokenTTL: Int64
    }

    /// The server answered the login, and said no (wrong credentials, or too many failures).
    public struct LoginRefused: Error, CustomStringConvertible {
        public let status: Int
        public let body: String
        public var description: String { "HTTP \(status): \(body)" }
    }

    /// Logs in (`POST /nacos/v1/auth/login`).
    public func login(username: String, password: String) async throws -> Login {
        let reply = try await call("POST", "/nacos/v1/auth/login", ["username": username, "password": password])
        guard reply.status == 200 else { throw LoginRefused(status: reply.status, body: reply.body) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
            let token = object["accessToken"] as? String
        else {
            throw Failure(description: "login at \(server) answered no token: \(reply.body)")
        }
        return Login(accessToken: token, tokenTTL: (object["tokenTtl"] as? NSNumber)?.int64Value ?? 18_000)
    }

    public func call(_ method: String, _ path: String, _ query: [String: String] = [:]) async throws -> Reply {
        var query = query
        if let accessToken { query["accessToken"] = accessToken }
        var components = URLComponents()
        components.scheme = "http"
        components.host = server.host
        components.port = server.port
        components.path = path
        components.queryItems =
            query.isEmpty ? nil : query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        guard let url = components.url else { throw Failure(description: "cannot build a URL for \(server)\(path)") }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return Reply(
                status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: String(decoding: data, as: UTF8.self))
        } catch {
            throw Failure(description: "HTTP \(method) \(url.absoluteString) failed: \(error.localizedDescription)")
        }
    }
}
