import AsyncHTTPClient

/// The process's one HTTP client, for short calls to a known server: v1 forwarding between
/// members, logins, the CLI's Open API calls. Unlike `HTTPClient.shared` it does not retry a
/// refused connection until the request's deadline: a dead server fails at once, so a forward
/// is handled locally and a login moves to the next server without waiting out the timeout.
/// It follows no redirects. Never shut down (it lives as long as the process).
///
/// Threading: thread-safe (async-http-client's own contract).
public enum SharedHTTPClient {
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
