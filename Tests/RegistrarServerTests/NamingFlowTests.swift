import Foundation
import NIOCore
import NIOHTTP2
import RegistrarClient
import RegistrarTesting
import RegistrarWire
import Synchronization
import Testing

@Suite("Naming over real loopback connections", .stopsWhatItStarts)
struct NamingFlowTests {
    @Test func registerSubscribeAndReceivePush() async throws {
        let server = try await TestServer.start()
        let publisher = try await server.connect()
        let subscriber = try await server.connect()
        let service = "orders-\(UUID().uuidString.prefix(8))"

        let initial = try await subscriber.subscribe(service)
        #expect(initial.resultCode == 200)
        #expect(initial.serviceInfo?.hosts?.isEmpty == true)

        let registered = try await publisher.register(service, ip: "10.0.0.1", port: 8080, metadata: ["version": "1"])
        #expect(registered.resultCode == 200 && registered.errorCode == 0)

        let push = try await subscriber.nextPush(of: service) { $0.count == 1 }
        let host = try #require(push?.hosts?.first)
        #expect(host.ip == "10.0.0.1" && host.port == 8080)
        #expect(host.serviceName == "DEFAULT_GROUP@@\(service)")
        #expect(host.instanceId == "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@\(service)")
        #expect(host.metadata == ["version": "1"])
        #expect(push?.name == service)

        let queried = try await publisher.query(service)
        #expect(queried.serviceInfo?.hosts?.count == 1)
        #expect((queried.serviceInfo?.lastRefTime ?? 0) >= (initial.serviceInfo?.lastRefTime ?? 0))

        await publisher.close()
        await subscriber.close()
        await server.stop()
    }

    @Test func abruptDisconnectRemovesInstancesAndPushes() async throws {
        let server = try await TestServer.start()
        let publisher = try await server.connect()
        let subscriber = try await server.connect()
        let service = "payments-\(UUID().uuidString.prefix(8))"
        _ = try await subscriber.subscribe(service)
        try await publisher.register(service, ip: "10.0.0.2", port: 9000)
        _ = try await subscriber.nextPush(of: service) { $0.count == 1 }

        // Close the TCP connection without deregistering, as a crashed client would.
        try await publisher.transport.channel.close()
        let emptied = try await subscriber.nextPush(of: service) { $0.isEmpty }
        #expect(emptied != nil)
        #expect(try await subscriber.query(service).serviceInfo?.hosts?.isEmpty == true)

        await subscriber.close()
        await server.stop()
    }

    @Test func secondRegistrationOnAConnectionReplacesTheFirst() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let service = "replace-\(UUID().uuidString.prefix(8))"
        try await client.register(service, ip: "10.0.0.1", port: 1)
        try await client.register(service, ip: "10.0.0.2", port: 2)
        let hosts = try await client.query(service).serviceInfo?.hosts ?? []
        #expect(hosts.map(\.ip) == ["10.0.0.2"])
        await client.close()
        await server.stop()
    }

    @Test func batchRegisterAndDeregister() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let reader = try await server.connect()
        let service = "batch-\(UUID().uuidString.prefix(8))"
        let batch = BatchInstanceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "batchRegisterInstance",
            instances: [
                InstanceBody(ip: "10.1.0.1", port: 80, clusterName: ""), InstanceBody(ip: "10.1.0.2", port: 80),
            ])
        let response = try decode(ResponseFields.self, try await client.request("BatchInstanceRequest", batch))
        #expect(response.resultCode == 200)
        #expect(try await reader.query(service).serviceInfo?.hosts?.map(\.ip) == ["10.1.0.1", "10.1.0.2"])

        let deregister = InstanceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: "deregisterInstance",
            instance: InstanceBody(ip: "10.1.0.1", port: 80))
        let deregistered = try await client.request("InstanceRequest", deregister)
        #expect(deregistered.type == "InstanceResponse")
        #expect(try await reader.query(service).serviceInfo?.hosts?.isEmpty == true)
        await client.close()
        await reader.close()
        await server.stop()
    }

    @Test func listServicesTreatsEmptyNamespaceAsPublic() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let service = "listed-\(UUID().uuidString.prefix(8))"
        try await client.register(service, ip: "10.0.0.9", port: 1)
        let list = ServiceListRequest(namespace: "", groupName: "DEFAULT_GROUP", pageNo: 1, pageSize: 100)
        let response = try decode(ServiceListResponseBody.self, try await client.request("ServiceListRequest", list))
        #expect(response.count == 1)
        #expect(response.serviceNames == [service])
        await client.close()
        await server.stop()
    }

    /// The subscribe answer carries the service; the first push is the next change, not the
    /// same data again (Nacos repeats it 500 ms later; the Rust SDK can stall on that push).
    @Test func aSubscriberIsFirstPushedTheChangeAfterItsAnswer() async throws {
        let server = try await TestServer.start()
        let publisher = try await server.connect()
        let service = "first-\(UUID().uuidString.prefix(8))"
        try await publisher.register(service, ip: "10.0.0.3", port: 3)
        let subscriber = try await server.connect()
        let answer = try await subscriber.subscribe(service)
        #expect(answer.serviceInfo?.hosts?.count == 1)
        let second = try await server.connect()  // one instance per service and connection
        try await second.register(service, ip: "10.0.0.4", port: 4)
        let first = try await subscriber.nextPush(of: service) { _ in true }
        #expect(first?.hosts?.count == 2)
        await second.close()
        await publisher.close()
        await subscriber.close()
        await server.stop()
    }

    /// The client sees a GOAWAY frame from the server before its connection closes, so a real
    /// SDK knows to reconnect elsewhere instead of treating the close as a network fault.
    @Test func shutdownSendsGoAwayAndClosesConnections() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let tap = GoAwayRecorder()
        let channel = client.transport.channel
        try await channel.eventLoop.submit {
            let http2 = try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self)
            try channel.pipeline.syncOperations.addHandler(tap, position: .after(http2))
        }.get()
        await server.stop()
        let closed = try await eventually(.seconds(5)) { !channel.isActive }
        #expect(closed)
        #expect(tap.goAways.load(ordering: .relaxed) >= 1)
    }
}

/// Counts the GOAWAY frames a client connection receives.
private final class GoAwayRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    let goAways = Atomic<Int>(0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { goAways.add(1, ordering: .relaxed) }
        context.fireChannelRead(data)
    }
}
