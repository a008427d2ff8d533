import Foundation
import Hummingbird
import NIOCore
import RegistrarCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// v1 clients (`ip:port#true`) in cluster mode: each belongs to the member that Nacos's hash of
/// `ip:port` over the sorted healthy members names. Registrations, deregistrations and beats
/// that reach another member are forwarded there, as Nacos's DistroFilter does, so one member
/// keeps each client's beat deadlines and replicates it.
///
/// Unlike Nacos, a forward that fails (the responsible member just died, or the members briefly
/// disagree) is handled here instead of failing the client: the client then moves to this
/// member, which replicates it with a newer revision. A request another member forwarded is
/// always handled here, so requests never bounce.
struct V1Forwarder: Sendable {
    static let forwardedUserAgent = "Nacos-Server:Registrar-\(RegistrarVersion.current)"

    let node: ClusterNode

    /// Forwards the request to the member responsible for `ip:port` (by default the `ip` and
    /// `port` parameters), and returns that member's answer; nil when this member should
    /// handle it.
    func forwardToResponsibleMember(
        _ request: Request, _ parameters: V1Parameters,
        ip: String? = nil, port: Int? = nil
    ) async -> Response? {
        guard request.headers[.userAgent]?.contains("Nacos-Server") != true,
            parameters.bool("ephemeral", default: true),
            let ip = ip ?? parameters.optional("ip"),
            let port = port ?? parameters.optional("port").flatMap({ Int($0) })
        else { return nil }
        let responsible = node.memberTable.responsible(for: "\(ip):\(port)")
        guard responsible != node.me else { return nil }
        do {
            let response = try await Self.forward(request, parameters, to: responsible)
            node.counters.v1Forwarded.add(1)
            return response
        } catch {
            node.counters.v1ForwardFailures.add(1)
            node.logger.notice(
                "could not forward \(request.method) \(request.uri.path) for \(ip):\(port) to \(responsible); handling it here: \(error)"
            )
            return nil
        }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 2
        configuration.timeoutIntervalForResource = 2
        return URLSession(configuration: configuration)
    }()

    private static func forward(_ request: Request, _ parameters: V1Parameters, to member: MemberAddress) async throws
        -> Response
    {
        var text = "http://\(member)\(request.uri.path)"
        if let query = parameters.query, !query.isEmpty { text += "?" + query }
        guard let url = URL(string: text) else { throw URLError(.badURL) }
        var forwarded = URLRequest(url: url)
        forwarded.httpMethod = request.method.rawValue
        // The User-Agent only stops a second hop; the member checks the client's own token
        // (in the parameters, or here) as for any request.
        forwarded.setValue(forwardedUserAgent, forHTTPHeaderField: "User-Agent")
        if let authorization = request.headers[.authorization] {
            forwarded.setValue(authorization, forHTTPHeaderField: "Authorization")
        }
        if let form = parameters.form {
            forwarded.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            forwarded.httpBody = Data(form.utf8)
        }
        let (data, response) = try await session.data(for: forwarded)
        guard let http = response as? HTTPURLResponse else { throw URLError(.badServerResponse) }
        let contentType = http.value(forHTTPHeaderField: "Content-Type") ?? "text/plain;charset=UTF-8"
        return Response(
            status: HTTPResponse.Status(code: http.statusCode), headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(data: data))
        )
    }
}
