import RegistrarCore
import Testing

private let web = ServiceKey(namespace: nil, group: nil, name: "web")

private func registry() -> Registry {
    Registry(wallClock: { 1_000 })
}

private func publishBeating(_ registry: inout Registry, ip: String, at now: Int64, metadata: [String: String] = [:])
    throws -> ClientID
{
    let client = IPPortClientID.make(ip: ip, port: 80, ephemeral: true)
    registry.addClient(client, kind: .ipPort(ephemeral: true))
    try registry.publish(
        client: client, service: web, instances: [Instance(ip: ip, port: 80, metadata: metadata)], beatAt: now)
    return client
}

@Suite("Registry: heartbeats, leases and operator edits")
struct HeartbeatAndEditTests {
    @Test func silenceMakesUnhealthyThenRemovesAndABeatHeals() throws {
        var registry = registry()
        let client = try publishBeating(&registry, ip: "10.0.0.1", at: 0)
        #expect(registry.sweep(now: 15_000).changed.isEmpty, "15 s is not yet past the timeout")
        let unhealthy = registry.sweep(now: 15_001)
        #expect(unhealthy.changed == [web] && unhealthy.turnedUnhealthy.map(\.client) == [client])
        #expect(registry.snapshot(of: web).hosts.first?.instance.healthy == false)
        #expect(registry.sweep(now: 16_000).changed.isEmpty, "already unhealthy: no new change")

        #expect(
            registry.heartbeat(client: client, service: web, now: 20_000)
                == .refreshed(changed: [web], beatInterval: 5_000))
        #expect(registry.snapshot(of: web).hosts.first?.instance.healthy == true)

        let expired = registry.sweep(now: 50_001)
        #expect(expired.expired.map(\.client) == [client])
        #expect(registry.snapshot(of: web).hosts.isEmpty)
        #expect(!registry.hasClient(client), "a heartbeat client left with nothing is dropped")
        #expect(registry.heartbeat(client: client, service: web, now: 50_002) == .unknownInstance)
    }

    @Test func preservedMetadataAndEditsSetTheTimings() throws {
        var registry = registry()
        let quick = [
            "preserved.heart.beat.interval": "100", "preserved.heart.beat.timeout": "300",
            "preserved.ip.delete.timeout": "600",
        ]
        _ = try publishBeating(&registry, ip: "10.0.0.1", at: 0, metadata: quick)
        _ = try publishBeating(&registry, ip: "10.0.0.2", at: 0)
        #expect(registry.sweep(now: 301).turnedUnhealthy.count == 1)
        #expect(registry.sweep(now: 601).expired.count == 1)
        #expect(registry.snapshot(of: web).hosts.map(\.instance.ip) == ["10.0.0.2"])

        // An operator edit of the metadata shortens the other one's timeout too.
        try registry.editInstance(
            web, at: InstanceAddress(ip: "10.0.0.2", port: 80, cluster: ""),
            overlay: InstanceOverlay(metadata: ["preserved.heart.beat.timeout": "700"]))
        #expect(
            registry.sweep(now: 701).turnedUnhealthy.map(\.client) == [
                IPPortClientID.make(ip: "10.0.0.2", port: 80, ephemeral: true)
            ])
    }

    @Test func connectionClientsAreNeverSwept() throws {
        var registry = registry()
        registry.addClient("conn-1", kind: .connection)
        try registry.publish(client: "conn-1", service: web, instances: [Instance(ip: "10.0.0.3", port: 80)])
        #expect(registry.sweep(now: 10_000_000).changed.isEmpty)
        #expect(registry.snapshot(of: web).hosts.count == 1)
    }

    @Test func subscriptionLeaseLapsesWithoutListCalls() throws {
        var registry = registry()
        let subscriber = IPPortClientID.make(ip: "127.0.0.1", port: 55_000, ephemeral: true)
        registry.addClient(subscriber, kind: .ipPort(ephemeral: true))
        registry.markActive(client: subscriber, now: 0)
        try registry.subscribe(client: subscriber, service: web)
        var policy = Registry.LeasePolicy()
        policy.subscriberLease = 1_000
        _ = registry.sweep(now: 900, policy: policy)
        registry.markActive(client: subscriber, now: 900)
        _ = registry.sweep(now: 1_800, policy: policy)
        #expect(registry.subscribers(of: web).map(\.client) == [subscriber], "renewed at 900")
        _ = registry.sweep(now: 1_901, policy: policy)
        #expect(registry.subscribers(of: web).isEmpty)
        #expect(!registry.hasClient(subscriber))
    }

    @Test func editsOverlayPublishedDataAndAreForgottenAfterTheirInstance() throws {
        var registry = registry()
        registry.addClient("conn-1", kind: .connection)
        try registry.publish(
            client: "conn-1", service: web, instances: [Instance(ip: "10.0.0.4", port: 80, metadata: ["a": "1"])])
        let address = InstanceAddress(ip: "10.0.0.4", port: 80, cluster: "DEFAULT")
        try registry.patchInstance(web, at: address, weight: 3, enabled: nil, metadata: ["b": "2"])
        var host = try #require(registry.snapshot(of: web).hosts.first)
        #expect(host.instance.weight == 3 && host.instance.metadata == ["a": "1", "b": "2"])
        #expect(throws: RegistryError.notFound("no matched ip found!")) {
            try registry.patchInstance(
                web, at: InstanceAddress(ip: "10.0.0.5", port: 80, cluster: ""), weight: 1, enabled: nil, metadata: nil)
        }
        try registry.patchInstance(web, at: address, weight: nil, enabled: false, metadata: nil)
        #expect(registry.snapshot(of: web).hosts.isEmpty, "disabled instances are not read")
        #expect(try registry.instance(in: web, ip: "10.0.0.4", port: 80, cluster: "").enabled == false)

        // The instance goes and comes back within the retention: the edit still applies.
        registry.removeClient("conn-1")
        _ = registry.sweep(now: 0)
        registry.addClient("conn-2", kind: .connection)
        try registry.publish(client: "conn-2", service: web, instances: [Instance(ip: "10.0.0.4", port: 80)])
        #expect(try registry.instance(in: web, ip: "10.0.0.4", port: 80, cluster: "").weight == 3)
        // Gone for longer than the retention: the edit is forgotten, and the service with it.
        registry.removeClient("conn-2")
        _ = registry.sweep(now: 100)
        _ = registry.sweep(now: 100 + 60_001)
        #expect(!registry.exists(web))
        registry.addClient("conn-3", kind: .connection)
        try registry.publish(client: "conn-3", service: web, instances: [Instance(ip: "10.0.0.4", port: 80)])
        host = try #require(registry.snapshot(of: web).hosts.first)
        #expect(host.instance.weight == 1)
    }

    @Test func serviceMetadataLifecycleAndKinds() throws {
        var registry = registry()
        try registry.createService(web, metadata: ServiceMetadata(protectThreshold: 0.5))
        #expect(
            throws: RegistryError.invalidParameter(
                "specified service DEFAULT_GROUP@@web already exists!",
                detail: RegistryError.Detail.serviceAlreadyExists)
        ) {
            try registry.createService(web, metadata: ServiceMetadata())
        }
        #expect(registry.listServices(namespace: "", group: "", pageNo: 1, pageSize: 10).names == ["web"])
        #expect(
            throws: RegistryError.invalidParameter(
                "Param 'protectThreshold' is illegal, the value should be between 0 and 1.")
        ) {
            try registry.updateService(web, metadata: ServiceMetadata(protectThreshold: 1.5))
        }
        registry.addClient("conn-1", kind: .connection)
        try registry.publish(
            client: "conn-1", service: web, instances: [Instance(ip: "10.0.0.6", port: 80, healthy: false)])
        #expect(registry.snapshot(of: web).reachProtectionThreshold)
        #expect(throws: RegistryError.self) { try registry.deleteService(web) }
        registry.removeClient("conn-1")
        try registry.deleteService(web)
        #expect(!registry.exists(web))

        let durable = ServiceKey(namespace: nil, group: nil, name: "db")
        try registry.createService(durable, metadata: ServiceMetadata(ephemeral: false))
        registry.addClient("conn-2", kind: .connection)
        #expect(
            throws: RegistryError.invalidParameter(
                "Current service DEFAULT_GROUP@@db is persistent service, can't register ephemeral instance.")
        ) {
            try registry.publish(client: "conn-2", service: durable, instances: [Instance(ip: "10.0.0.7", port: 5432)])
        }
        let statistics = registry.statistics()
        #expect(statistics.serviceCount == 1 && statistics.connectionClientCount == 1 && statistics.instanceCount == 0)
    }

    @Test func clientIdsRoundTrip() {
        #expect(
            IPPortClientID.parse(IPPortClientID.make(ip: "10.0.0.1", port: 8080, ephemeral: true))! == (
                "10.0.0.1", 8080, true
            ))
        #expect(IPPortClientID.parse("::1:53#false")! == ("::1", 53, false))
        #expect(IPPortClientID.parse("1732_127.0.0.1_5000") == nil)
    }
}
