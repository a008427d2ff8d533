import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RegistrarTransport

/// The few operator calls that only the HTTP Open API offers (cluster members, removing an
/// instance registered over HTTP), and logins, for the SDK, the CLI and the bench. They go to a
/// server's main port, over https when `tls` is set, through the process's one
/// `SharedHTTPClient`.
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

    /// TLS for a server whose HTTP port has a certificate (`--tls-cert`); nil: plain http.
    public var tls: TLSConfiguration?

    public init(server: ServerAddress, timeout: Double, accessToken: String? = nil, tls: TLSConfiguration? = nil) {
        self.server = server
        self.timeout = timeout
        self.accessToken = accessToken
        self.tls = tls
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

    /// Logs in (`POST /nacos/v1/auth/login`). The credentials go in a form body, never in a URL
    /// that a proxy or an access log would keep.
    public func login(username: String, password: String) async throws -> Login {
        let reply = try await call(
            "POST", "/nacos/v1/auth/login", form: ["username": username, "password": password])
        guard reply.status == 200 else { throw LoginRefused(status: reply.status, body: reply.body) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
            let token = object["accessToken"] as? String
        else {
            throw Failure(description: "login at \(server) answered no token: \(reply.body)")
        }
        return Login(accessToken: token, tokenTTL: (object["tokenTtl"] as? NSNumber)?.int64Value ?? 18_000)
    }

    /// One call; `query` goes in the URL, `form` (if any) in an urlencoded body.
    public func call(
        _ method: String, _ path: String, _ query: [String: String] = [:], form: [String: String]? = nil
    ) async throws -> Reply {
        var query = query
        if let accessToken { query["accessToken"] = accessToken }
        var components = URLComponents()
        components.scheme = tls == nil ? "http" : "https"
        components.host = server.host
        components.port = server.port
        components.path = path
        components.percentEncodedQuery = Self.urlencoded(query)
        guard let url = components.url else { throw Failure(description: "cannot build a URL for \(server)\(path)") }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = HTTPMethod(rawValue: method)
        request.tlsConfiguration = tls
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: Self.urlencoded(form) ?? ""))
        }
        let shown = "\(method) \(components.scheme ?? "http")://\(server)\(path)"
        do {
            let response = try await SharedHTTPClient.client.execute(
                request, timeout: .milliseconds(Int64(timeout * 1000)))
            let body = try await response.body.collect(upTo: Self.maximumReplyBytes)
            return Reply(status: Int(response.status.code), body: String(buffer: body))
        } catch {
            throw Failure(description: "HTTP \(shown) failed: \(error)")
        }
    }

    /// Answers of the Open API are small; a bigger one is not ours.
    static let maximumReplyBytes = 16 << 20

    /// `a=1&b=2`, sorted, with `+` escaped too (servers read a bare `+` as a space).
    static func urlencoded(_ parameters: [String: String]) -> String? {
        guard !parameters.isEmpty else { return nil }
        var components = URLComponents()
        components.queryItems = parameters.sorted { $0.key < $1.key }.map {
            URLQueryItem(name: $0.key, value: $0.value)
        }
        return components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
    }
}
