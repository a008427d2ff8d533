import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A v1 HTTP caller for tests: real requests over loopback, parameters in the query string
/// (as the Python SDK sends them) or in a form body (as the Java client sends `beat`).
public struct V1Client: Sendable {
    public let port: Int

    public struct Reply: Sendable {
        public var status: Int
        public var body: String
        public var headers: [String: String]

        /// The body as a JSON object (fails the test's expectation when it is not one).
        public var object: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }

        public var hosts: [[String: Any]] { object["hosts"] as? [[String: Any]] ?? [] }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        return URLSession(configuration: configuration)
    }()

    public static func encode(_ parameters: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return parameters.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }

    @discardableResult
    public func call(
        _ method: String, _ path: String, _ query: [(String, String)] = [], form: [(String, String)]? = nil,
        body: (contentType: String, data: Data)? = nil, headers: [String: String] = [:]
    ) async throws -> Reply {
        var url = "http://127.0.0.1:\(port)\(path)"
        if !query.isEmpty { url += "?" + V1Client.encode(query) }
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let form {
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(V1Client.encode(form).utf8)
        } else if let body {
            request.setValue(body.contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = body.data
        }
        let (data, response) = try await V1Client.session.data(for: request)
        let http = response as! HTTPURLResponse
        var replyHeaders: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            replyHeaders[String(describing: name).lowercased()] = String(describing: value)
        }
        return Reply(status: http.statusCode, body: String(decoding: data, as: UTF8.self), headers: replyHeaders)
    }

    /// Registers an ephemeral instance (query parameters) and expects `ok`.
    @discardableResult
    public func register(_ service: String, ip: String, port: Int, _ extra: [(String, String)] = []) async throws
        -> Reply
    {
        try await call(
            "POST", "/nacos/v1/ns/instance", [("serviceName", service), ("ip", ip), ("port", String(port))] + extra)
    }

    public func list(_ service: String, _ extra: [(String, String)] = [], headers: [String: String] = [:]) async throws
        -> Reply
    {
        try await call("GET", "/nacos/v1/ns/instance/list", [("serviceName", service)] + extra, headers: headers)
    }

    public func beat(_ service: String, ip: String, port: Int, beat: String? = nil) async throws -> Reply {
        var query = [("serviceName", service), ("ip", ip), ("port", String(port))]
        if let beat { query.append(("beat", beat)) }
        return try await call("PUT", "/nacos/v1/ns/instance/beat", query)
    }
}
