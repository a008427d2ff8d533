import Foundation
import RegistrarClient
import RegistrarServer
import RegistrarTesting
import Testing

/// The Swift SDK against real servers on loopback.
@Suite(.stopsWhatItStarts) struct RegistrarClientTests {
    @Test func registerSubscribeAndReceiveChanges() async throws {
        let server = try await TestServer.start()
        let provider = try SDK.client([server.port])
        let consumer = try SDK.client([server.port])
        let updates = UpdateCollector(try await consumer.subscribe(service: "orders"))
        #expect(try await updates.waitFor([]), "a subscription first delivers the current (empty) state")

        try await provider.registerInstance(
            ServiceInstance(ip: "10.1.0.1", port: 8080, metadata: ["zone": "a"]), service: "orders")
        #expect(try await updates.waitFor(["10.1.0.1:8080"]))
        // A second instance of the same service from the same client adds to it (sent as a batch).
        try await provider.registerInstance(ServiceInstance(ip: "10.1.0.2", port: 8080, weight: 3), service: "orders")
        #expect(try await updates.waitFor(["10.1.0.1:8080", "10.1.0.2:8080"]))
        #expect(provider.registeredInstances(service: "orders").count == 2)

        let all = try await consumer.allInstances(service: "orders")
        #expect(all.first { $0.ip == "10.1.0.1" }?.metadata == ["zone": "a"])
        #expect(all.first { $0.ip == "10.1.0.2" }?.weight == 3)
        let chosen = try await consumer.selectHealthy(service: "orders")
        #expect(["10.1.0.1", "10.1.0.2"].contains(chosen.ip))
        #expect(try await consumer.listServices().names.contains("orders"))

        try await provider.deregisterInstance(ServiceInstance(ip: "10.1.0.1", port: 8080), service: "orders")
        #expect(try await updates.waitFor(["10.1.0.2:8080"]))
        // Closing the provider's connection withdraws the rest at once.
        await provider.shutdown()
        #expect(try await eventually { updates.latestIs([]) })

        await consumer.shutdown()
        await server.stop()
    }

    @Test func persistentInstancesOutliveTheClientAndAreRemovedExplicitly() async throws {
        let server = try await TestServer.start { $0.healthCheckInterval = .hours(1) }
        let operatorClient = try SDK.client([server.port])
        let database = ServiceInstance(ip: "127.0.0.1", port: 5432, ephemeral: false, metadata: ["role": "primary"])
        try await operatorClient.registerInstance(database, service: "pg")
        await operatorClient.shutdown()
        // The server has seen the connection go before the instance is looked for.
        #expect(try await eventually { try await server.metric("grpcConnectionCount") == 0 })
        let reader = try SDK.client([server.port])
        let found = try await reader.allInstances(service: "pg")
        #expect(
            found.map(\.ip) == ["127.0.0.1"] && found.first?.ephemeral == false
                && found.first?.metadata == ["role": "primary"])
        // Refusals reach the caller: a host name cannot be probed, so it is not a persistent address.
        await #expect(throws: RegistrarClientError.self) {
            try await reader.registerInstance(
                ServiceInstance(ip: "db.internal", port: 5432, ephemeral: false), service: "pg")
        }
        try await reader.deregisterInstance(database, service: "pg")
        #expect(try await reader.allInstances(service: "pg").isEmpty)
        await reader.shutdown()
        await server.stop()
    }

    @Test func reconnectsAfterServerRestartAndRedoesRegistrationsAndSubscriptions() async throws {
        let first = try await TestServer.start()
        let port = first.port
        let client = try SDK.client([port])
        let updates = UpdateCollector(try await client.subscribe(service: "billing"))
        try await client.registerInstance(ServiceInstance(ip: "10.2.0.1", port: 9000), service: "billing")
        #expect(try await updates.waitFor(["10.2.0.1:9000"]))

        await first.stop()
        let second = try await TestServer.start { $0.grpcPortOverride = port }
        // The new server knows nothing until the client redoes its registration; the resumed
        // subscription then sees it again.
        let observer = try await second.connect()
        #expect(
            try await eventually(.seconds(10)) {
                (try await observer.query("billing").serviceInfo?.hosts ?? []).map(\.ip) == ["10.2.0.1"]
            })
        let before = updates.all.count
        try await client.registerInstance(ServiceInstance(ip: "10.2.0.2", port: 9000), service: "billing")
        #expect(try await updates.waitFor(["10.2.0.1:9000", "10.2.0.2:9000"]))
        #expect(updates.all.count > before)

        await observer.close()
        await client.shutdown()
        await second.stop()
    }

    @Test func failsOverToTheNextServer() async throws {
        let primary = try await TestServer.start()
        let standby = try await TestServer.start()
        let client = try SDK.client([primary.port, standby.port])
        try await client.registerInstance(ServiceInstance(ip: "10.3.0.1", port: 7000), service: "search")
        let onPrimary = try await primary.connect()
        #expect(try await onPrimary.query("search").serviceInfo?.hosts?.count == 1)
        await onPrimary.close()

        await primary.stop()
        let onStandby = try await standby.connect()
        #expect(
            try await eventually(.seconds(10)) {
                (try await onStandby.query("search").serviceInfo?.hosts ?? []).map(\.ip) == ["10.3.0.1"]
            })
        // Calls work through the standby now.
        #expect(try await client.allInstances(service: "search").map(\.ip) == ["10.3.0.1"])

        await onStandby.close()
        await client.shutdown()
        await standby.stop()
    }

    @Test func cacheServesReadsWhileNoServerIsReachable() async throws {
        let server = try await TestServer.start()
        let cache = temporaryDirectory()
        let provider = try await server.connect()
        try await provider.register("inventory", ip: "10.4.0.1", port: 6000)
        let client = try SDK.client([server.port], cacheDirectory: cache, requestTimeout: .seconds(1))
        // The first call also waits for the connection, which a loaded machine may not bring up within the short
        // timeout the fallbacks below need: it is retried until it answers.
        #expect(
            try await eventually(.seconds(10)) {
                (try? await client.allInstances(service: "inventory"))?.map(\.ip) == ["10.4.0.1"]
            })

        await provider.close()
        await server.stop()
        // Memory cache: the same client still answers.
        #expect(try await client.allInstances(service: "inventory").map(\.ip) == ["10.4.0.1"])
        await client.shutdown()
        // Disk cache: a new process-like client with no server at all.
        let restarted = try SDK.client([server.port], cacheDirectory: cache, requestTimeout: .seconds(1))
        #expect(try await restarted.allInstances(service: "inventory").map(\.ip) == ["10.4.0.1"])
        // Nothing cached: a clear error, within the timeout.
        await #expect(throws: RegistrarClientError.self) { try await restarted.allInstances(service: "never-seen") }
        await restarted.shutdown()
    }

    @Test func unreachableServerFailsWithinTheTimeoutAndBadArgumentsAreRefused() async throws {
        let client = try SDK.client([1], requestTimeout: .milliseconds(500))
        do {
            _ = try await client.listServices()
            Issue.record("expected a failure")
        } catch {
            guard case .unavailable(let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(reason.contains("127.0.0.1:1"))
        }
        await #expect(throws: RegistrarClientError.invalidArgument("the service name is empty")) {
            try await client.registerInstance(ServiceInstance(ip: "10.0.0.1", port: 1), service: " ")
        }
        await #expect(throws: RegistrarClientError.invalidArgument("port 70000 is not in 0-65535")) {
            try await client.registerInstance(ServiceInstance(ip: "10.0.0.1", port: 70000), service: "a")
        }
        #expect(throws: RegistrarClientError.self) { try ServerAddress.parseList("host:notaport") }
        #expect(
            try ServerAddress.parseList("a:1, b ,[::1]:9") == [
                ServerAddress(host: "a", port: 1), ServerAddress(host: "b", port: 8848),
                ServerAddress(host: "::1", port: 9),
            ])
        await client.shutdown()
        await #expect(throws: RegistrarClientError.shutDown) { try await client.listServices() }
    }

    @Test func serverErrorsReachTheCaller() async throws {
        let server = try await TestServer.start()
        let client = try SDK.client([server.port])
        await #expect(throws: RegistrarClientError.self) {
            try await client.registerInstance(
                ServiceInstance(ip: "10.0.0.1", port: 1, metadata: ["k": String(repeating: "x", count: 100_000)]),
                service: "big")
        }
        // The refused instance is forgotten, so the next registration of that service is not
        // dragged down with it; and the connection is still good.
        #expect(client.registeredInstances(service: "big").isEmpty)
        try await client.registerInstance(ServiceInstance(ip: "10.0.0.2", port: 1), service: "big")
        #expect(try await client.allInstances(service: "big").map(\.ip) == ["10.0.0.2"])
        await client.shutdown()
        await server.stop()
    }
}
