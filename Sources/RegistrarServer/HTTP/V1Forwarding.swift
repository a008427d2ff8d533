import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOSSL
import RegistrarCore
import RegistrarTransport

/// v1 clients (`ip:port#true`) in cluster mode: each belongs to the member that Nacos's hash of
/// `ip:port` over the sorted healthy members names. Registrations, deregistrations and beats
/// that reach another member are forwarded there, as Nacos's DistroFilter does, so one member
/// keeps each client's beat deadlines and replicates it.
///
/// Unlike Nacos, a forward that fails (the responsible member just died, or the members briefly
/// disagree) is handled here instead of failing the client: the client then moves to this
/// member, which replicates it with a newer revision. A request another member forwarded is
/// always handled here, so requests never bounce.
///
/// When the HTTP port has TLS, forwards go over https. With peer TLS, this member presents its
/// peer certificate and trusts the peer CA (the cluster's own anchor, so no host names); without,
/// it trusts the system's roots, and a member certificate they cannot verify makes every forward
/// fail and be handled here.
struct V1Forwarder: Sendable {
    static let forwardedUserAgent = "Nacos-Server:Registrar-\(RegistrarVersion.current)"

    let node: ClusterNode
    /// nil: plain http.
    let tls: TLSConfiguration?

    init(node: ClusterNode, membersSpeakHTTPS: Bool) {
        self.node = node
        guard membersSpeakHTTPS else {
            tls = nil
            return
        }
        var tls = node.configuration.peerTLSContexts?.clientConfiguration ?? .makeClientConfiguration()
        tls.applicationProtocols = []
        self.tls = tls
    }

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
            let response = try await forward(request, parameters, to: responsible)
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

    /// A forward that takes longer than this is given up and handled here.
    static let timeout = TimeAmount.seconds(2)

    private func forward(_ request: Request, _ parameters: V1Parameters, to member: MemberAddress) async throws
        -> Response
    {
        var url = "\(tls == nil ? "http" : "https")://\(member)\(request.uri.path)"
        if let query = parameters.query, !query.isEmpty { url += "?" + query }
        var forwarded = HTTPClientRequest(url: url)
        forwarded.method = HTTPMethod(rawValue: request.method.rawValue)
        forwarded.tlsConfiguration = tls
        // The User-Agent only stops a second hop; the member checks the client's own token
        // (in the parameters, or here) as for any request.
        forwarded.headers.add(name: "User-Agent", value: Self.forwardedUserAgent)
        if let authorization = request.headers[.authorization] {
            forwarded.headers.add(name: "Authorization", value: authorization)
        }
        if let form = parameters.form {
            forwarded.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            forwarded.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await SharedHTTPClient.client.execute(forwarded, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: Self.maximumAnswerBytes)
        let contentType = response.headers.first(name: "Content-Type") ?? "text/plain;charset=UTF-8"
        return Response(
            status: HTTPResponse.Status(code: Int(response.status.code)), headers: [.contentType: contentType],
            body: .init(byteBuffer: body)
        )
    }

    /// The answers of the forwarded routes are a word or a small JSON object.
    static let maximumAnswerBytes = 1 << 20
}
