import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RegistrarClient

/// The few operator calls that only the HTTP Open API offers (cluster members, removing an
/// instance registered over HTTP). They go to the first server's main port.
struct AdminHTTP {
    let server: ServerAddress
    let timeout: Double

    struct Reply {
        var status: Int
        var body: String
    }

    func call(_ method: String, _ path: String, _ query: [String: String] = [:]) async throws -> Reply {
        var components = URLComponents()
        components.scheme = "http"
        components.host = server.host
        components.port = server.port
        components.path = path
        components.queryItems = query.isEmpty ? nil : query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        guard let url = components.url else { throw CLIFailure("cannot build a URL for \(server)\(path)") }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: String(decoding: data, as: UTF8.self))
        } catch {
            throw CLIFailure("HTTP \(method) \(url.absoluteString) failed: \(error.localizedDescription)")
        }
    }
}
