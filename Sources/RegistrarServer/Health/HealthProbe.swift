import NIOCore
import NIOHTTP1
import NIOPosix
import RegistrarCore

/// One active check of a persistent instance: a TCP connect, or an HTTP GET, to the instance's
/// own registered ip:port and nothing else.
///
/// Threading: `run` may be called from any task; the channel work happens on its event loop.
enum HealthProbe {
    /// Healthy, or unhealthy with the reason (for the log).
    enum Outcome: Sendable, Equatable {
        case healthy
        case unhealthy(String)
    }

    static func run(_ check: HealthCheckSpec, ip: String, port: Int, timeout: TimeAmount, group: any EventLoopGroup)
        async -> Outcome
    {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: ip, port: port)
        } catch {
            return .unhealthy("not an IP address")
        }
        switch check.kind {
        case .none: return .healthy
        case .tcp: return await tcp(address, timeout: timeout, group: group)
        case .http: return await http(check, address: address, timeout: timeout, group: group)
        }
    }

    private static func tcp(_ address: SocketAddress, timeout: TimeAmount, group: any EventLoopGroup) async -> Outcome {
        do {
            let channel = try await ClientBootstrap(group: group).connectTimeout(timeout).connect(to: address).get()
            try? await channel.close()
            return .healthy
        } catch {
            return .unhealthy("TCP connect failed: \(describe(error))")
        }
    }

    private static func http(
        _ check: HealthCheckSpec, address: SocketAddress, timeout: TimeAmount, group: any EventLoopGroup
    ) async -> Outcome {
        let loop = group.next()
        let status = loop.makePromise(of: HTTPResponseStatus.self)
        let host = address.port.map { "\(address.ipAddress ?? ""):\($0)" } ?? ""
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(timeout).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(
                    StatusReader(path: check.path, host: host, status: status))
            }
        }
        let deadline = loop.scheduleTask(in: timeout) { status.fail(ProbeTimeout()) }
        defer { deadline.cancel() }
        do {
            let channel = try await bootstrap.connect(to: address).get()
            defer { channel.close(promise: nil) }
            let code = try await status.futureResult.get()
            let expected = check.expectedStatus.map { code.code == $0 } ?? (200..<300).contains(code.code)
            return expected ? .healthy : .unhealthy("GET \(check.path) answered \(code.code)")
        } catch {
            status.fail(error)
            return .unhealthy("GET \(check.path) failed: \(describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        if error is ProbeTimeout { return "no answer in time" }
        if let error = error as? ChannelError, case .connectTimeout = error { return "connect timed out" }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return "\(first.error)"
        }
        return "\(error)"
    }

    private struct ProbeTimeout: Error {}

    /// Sends `GET path` once the connection is up and reports the response's status.
    private final class StatusReader: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        private let path: String
        private let host: String
        private let status: EventLoopPromise<HTTPResponseStatus>

        init(path: String, host: String, status: EventLoopPromise<HTTPResponseStatus>) {
            self.path = path
            self.host = host
            self.status = status
        }

        func channelActive(context: ChannelHandlerContext) {
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: host)
            headers.add(name: "User-Agent", value: "Registrar-HealthCheck")
            headers.add(name: "Connection", value: "close")
            context.write(
                wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers))),
                promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case let .head(head) = unwrapInboundIn(data) {
                status.succeed(head.status)
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            status.fail(ChannelError.eof)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            status.fail(error)
            context.close(promise: nil)
        }
    }
}
