import Foundation
import NIOCore
import RegistrarClient
import RegistrarTesting
import RegistrarTransport
import RegistrarWire
import Testing

/// Bad input gets a clear error and costs nothing else: the connection, other clients and the
/// data already registered are untouched.
@Suite("Bad input", .stopsWhatItStarts)
struct BadInputTests {
    /// Sends `json` as `type` and returns the decoded common response fields and the response type.
    private func send(_ client: NacosConnection, _ type: String, _ json: String) async throws -> (
        String, ResponseFields
    ) {
        let response = try await client.request(type: type, json: Array(json.utf8))
        return (response.type, try decode(ResponseFields.self, response))
    }

    /// After each bad request, the same connection still works and earlier data is intact.
    private func assertStillServing(_ client: NacosConnection, service: String) async throws {
        let hosts = try await client.query(service).serviceInfo?.hosts ?? []
        #expect(hosts.map(\.ip) == ["10.9.9.9"])
    }

    @Test func eachBadRequestGetsTheDocumentedError() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let service = "kept-\(UUID().uuidString.prefix(8))"
        try await client.register(service, ip: "10.9.9.9", port: 1)

        // Unknown metadata.type: Nacos NO_HANDLER.
        let (type1, unknown) = try await send(client, "NoSuchRequest", "{}")
        #expect(type1 == "ErrorResponse" && unknown.errorCode == 302 && unknown.resultCode == 500)
        try await assertStillServing(client, service: service)

        // A body that is not JSON: BAD_GATEWAY (502) with the parse error.
        let (type2, notJSON) = try await send(client, "InstanceRequest", "this is not json")
        #expect(type2 == "ErrorResponse" && notJSON.errorCode == 502)
        #expect(notJSON.message?.contains("not valid JSON") == true)
        try await assertStillServing(client, service: service)

        // Wrong types: port as an object.
        let (_, wrongType) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"x","instance":{"ip":"1.1.1.1","port":{"a":1}}}"#)
        #expect(wrongType.errorCode == 502)
        #expect(wrongType.message?.contains("instance.port") == true)
        try await assertStillServing(client, service: service)

        // Missing fields: no instance, then no service name.
        let (type4, noInstance) = try await send(
            client, "InstanceRequest", #"{"type":"registerInstance","serviceName":"x","groupName":"DEFAULT_GROUP"}"#)
        #expect(type4 == "InstanceResponse" && noInstance.resultCode == 500 && noInstance.errorCode == 400)
        let (_, noName) = try await send(
            client, "InstanceRequest", #"{"type":"registerInstance","instance":{"ip":"1.1.1.1","port":1}}"#)
        #expect(noName.errorCode == 400 && noName.message?.contains("serviceName") == true)

        // Illegal names.
        for (name, group) in [
            ("@bad", "DEFAULT_GROUP"), ("a@@b", "DEFAULT_GROUP"), ("with space", "DEFAULT_GROUP"),
            (String(repeating: "s", count: 513), "DEFAULT_GROUP"), ("ok", "bad group!"),
        ] {
            let (_, illegal) = try await send(
                client, "InstanceRequest",
                #"{"type":"registerInstance","serviceName":"\#(name)","groupName":"\#(group)","instance":{"ip":"1.1.1.1","port":1}}"#
            )
            #expect(illegal.resultCode == 500 && illegal.errorCode == 400, "name \(name.prefix(20)) group \(group)")
        }

        // Oversized metadata (more than 1024 characters of keys and values).
        let bigValue = String(repeating: "v", count: 1100)
        let (_, oversized) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"meta","instance":{"ip":"1.1.1.1","port":1,"metadata":{"k":"\#(bigValue)"}}}"#
        )
        #expect(oversized.errorCode == 400 && oversized.message?.contains("Metadata") == true)

        // Port and weight out of range, unsupported instance request type, bad batch type.
        let (_, badPort) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"p","instance":{"ip":"1.1.1.1","port":70000}}"#)
        #expect(badPort.errorCode == 400)
        let (_, badWeight) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"p","instance":{"ip":"1.1.1.1","port":1,"weight":-1}}"#)
        #expect(badWeight.errorCode == 400)
        let (_, badType) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerinstance","serviceName":"p","instance":{"ip":"1.1.1.1","port":1}}"#)
        #expect(badType.errorCode == 400 && badType.message == "Unsupported request type registerinstance")
        let (_, badBatch) = try await send(
            client, "BatchInstanceRequest", #"{"type":"batchDeregister","serviceName":"p","instances":[]}"#)
        #expect(badBatch.errorCode == 400)
        let (_, badCluster) = try await send(
            client, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"p","instance":{"ip":"1.1.1.1","port":1,"clusterName":"bad cluster"}}"#
        )
        #expect(badCluster.errorCode == 400)

        // Nothing that was refused was stored; the good data is intact.
        try await assertStillServing(client, service: service)
        let list = ServiceListRequest(namespace: "public", groupName: "DEFAULT_GROUP", pageNo: 1, pageSize: 100)
        #expect(
            try decode(ServiceListResponseBody.self, try await client.request("ServiceListRequest", list)).serviceNames
                == [service])
        await client.close()
        await server.stop()
    }

    @Test func rustStyleNullsAndUnknownKeysAreAccepted() async throws {
        let server = try await TestServer.start()
        let client = try await server.connect()
        let (_, ok) = try await send(
            client, "InstanceRequest",
            #"""
            {"type":"registerInstance","instance":{"instanceId":null,"ip":"10.2.0.1","port":8080,"weight":2.0,"healthy":true,
             "enabled":true,"ephemeral":true,"clusterName":null,"serviceName":null,"metadata":{"version":"v1"},"someFutureField":[1]},
             "headers":{},"requestId":null,"namespace":"public","serviceName":"nulls","groupName":"DEFAULT_GROUP","module":""}
            """#)
        #expect(ok.resultCode == 200)
        let host = try #require(try await client.query("nulls").serviceInfo?.hosts?.first)
        #expect(host.clusterName == "DEFAULT" && host.weight == 2.0)
        await client.close()
        await server.stop()
    }

    @Test func requestsBeforeSetupAreRefusedWith301() async throws {
        let server = try await TestServer.start()
        let transport = try await GRPCClientConnection.connect(
            host: "127.0.0.1", port: server.port, group: TestServer.group)
        // ServerCheck works without a registered connection...
        let check = try await unary(transport, "ServerCheckRequest", "{}")
        #expect(check.type == "ServerCheckResponse")
        // ...but naming requests need ConnectionSetupRequest first.
        let refused = try await unary(
            transport, "InstanceRequest",
            #"{"type":"registerInstance","serviceName":"x","instance":{"ip":"1.1.1.1","port":1}}"#)
        #expect(refused.type == "ErrorResponse")
        #expect(try decode(ResponseFields.self, refused).errorCode == 301)
        await transport.close()
        await server.stop()
    }

    @Test func malformedFramesDoNotDisturbOtherClients() async throws {
        let server = try await TestServer.start { $0.maximumMessageSize = 64 * 1024 }
        let bystander = try await server.connect()
        let service = "bystander-\(UUID().uuidString.prefix(8))"
        try await bystander.register(service, ip: "10.9.9.9", port: 1)

        let attacker = try await server.connect()
        // Not a protobuf Payload at all: INVALID_ARGUMENT, and the connection stays usable.
        let garbage = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01])
        await #expect(throws: GRPCStatus.self) {
            _ = try await attacker.transport.unary(path: "/Request/request", request: garbage).get()
        }
        do {
            _ = try await attacker.transport.unary(path: "/Request/request", request: garbage).get()
        } catch let status as GRPCStatus {
            #expect(status.code == .invalidArgument)
        }
        // Larger than the limit: RESOURCE_EXHAUSTED.
        do {
            _ = try await attacker.transport.unary(
                path: "/Request/request", request: ByteBuffer(repeating: 0, count: 100 * 1024)
            ).get()
            Issue.record("an oversized message was accepted")
        } catch let status as GRPCStatus {
            #expect(status.code == .resourceExhausted)
        }
        // An unknown method: UNIMPLEMENTED.
        do {
            _ = try await attacker.transport.unary(path: "/Nope/nope", request: ByteBuffer()).get()
            Issue.record("an unknown method was served")
        } catch let status as GRPCStatus {
            #expect(status.code == .unimplemented)
        }
        // Garbage and wrong requests on the bi-stream are dropped; the stream stays up.
        attacker.sendRawOnStream([0x01, 0x02, 0x03])
        attacker.sendRawOnStream(PayloadCodec.encode(type: "InstanceRequest", json: Array("{}".utf8)))
        let health = try await attacker.request(type: "HealthCheckRequest", json: Array("{}".utf8))
        #expect(health.type == "HealthCheckResponse")

        try await bystander.register(service, ip: "10.9.9.9", port: 1)
        #expect(try await bystander.query(service).serviceInfo?.hosts?.count == 1)
        await attacker.close()
        await bystander.close()
        await server.stop()
    }

    /// The client only announces the 200 ms deadline and enforces none of its own, so the
    /// DEADLINE_EXCEEDED that arrives can only be the server's answer to `grpc-timeout`.
    @Test func serverEndsACallThatOutlivesItsGRPCTimeout() async throws {
        let server = try await TestServer.start()
        let transport = try await GRPCClientConnection.connect(
            host: "127.0.0.1", port: server.port, group: TestServer.group)
        let status = try await withTimeout(.seconds(5)) {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<GRPCStatus, Error>) in
                transport.openCall(
                    path: "/Request/request", timeout: .milliseconds(200), enforcedLocally: false,
                    onMessage: { _ in }, onClose: { continuation.resume(returning: $0) }
                ).whenFailure { continuation.resume(throwing: $0) }
            }
        }
        #expect(status.code == .deadlineExceeded)
        #expect(status.message == "deadline exceeded")
        await transport.close()
        await server.stop()
    }

    private func unary(_ transport: GRPCClientConnection, _ type: String, _ json: String) async throws -> WireMessage {
        let response = try await transport.unary(
            path: "/Request/request",
            request: ByteBuffer(bytes: PayloadCodec.encode(type: type, json: Array(json.utf8)))
        ).get()
        return try PayloadCodec.decode(Array(response.readableBytesView))
    }
}
