import RegistrarCore
import Synchronization
import Testing

/// A wall clock the tests move by hand.
final class ManualClock: Sendable {
    let now = Mutex<Int64>(1_000)
    func read() -> Int64 { now.withLock { $0 } }
}

private func makeRegistry(clock: ManualClock = ManualClock()) -> Registry {
    Registry(wallClock: { clock.read() })
}

private let orders = ServiceKey(namespace: "public", group: nil, name: "orders")

@Suite("Registry: the 2.x model without I/O")
struct RegistryTests {
    @Test func publishReplacesTheClientsEntryAndGeneratesIds() throws {
        var registry = makeRegistry()
        registry.addClient("c1", kind: .connection)
        try registry.publish(client: "c1", service: orders, instances: [Instance(ip: "10.0.0.1", port: 80)])
        try registry.publish(
            client: "c1", service: orders, instances: [Instance(ip: "10.0.0.2", port: 81, clusterName: "")])
        let hosts = registry.snapshot(of: orders).hosts
        #expect(hosts.map(\.instance.ip) == ["10.0.0.2"])
        #expect(hosts.first?.instanceId == "10.0.0.2#81#DEFAULT#DEFAULT_GROUP@@orders")
        #expect(hosts.first?.instance.clusterName == "DEFAULT")
    }

    @Test func instancesOfSeveralClientsAreMergedAndSorted() throws {
        var registry = makeRegistry()
        registry.addClient("a", kind: .connection)
        registry.addClient("b", kind: .connection)
        try registry.publish(client: "b", service: orders, instances: [Instance(ip: "10.0.0.9", port: 1)])
        try registry.publish(
            client: "a", service: orders,
            instances: [Instance(ip: "10.0.0.1", port: 2), Instance(ip: "10.0.0.1", port: 1)])
        #expect(
            registry.snapshot(of: orders).hosts.map { "\($0.instance.ip):\($0.instance.port)" } == [
                "10.0.0.1:1", "10.0.0.1:2", "10.0.0.9:1",
            ])
    }

    @Test func emptyBatchAndWithdrawRemoveOnlyThatClientsInstances() throws {
        var registry = makeRegistry()
        registry.addClient("a", kind: .connection)
        registry.addClient("b", kind: .connection)
        try registry.publish(client: "a", service: orders, instances: [Instance(ip: "1.1.1.1", port: 1)])
        try registry.publish(client: "b", service: orders, instances: [Instance(ip: "2.2.2.2", port: 1)])
        #expect(try registry.publish(client: "a", service: orders, instances: []) == [orders])
        #expect(registry.snapshot(of: orders).hosts.map(\.instance.ip) == ["2.2.2.2"])
        #expect(registry.withdraw(client: "b", service: orders) == [orders])
        #expect(registry.withdraw(client: "b", service: orders) == [])
        #expect(!registry.exists(orders))
    }

    @Test func removingAClientReleasesEverythingItOwned() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        registry.addClient("watcher", kind: .connection)
        let users = ServiceKey(namespace: nil, group: "G", name: "users")
        try registry.publish(client: "c", service: orders, instances: [Instance(ip: "1.1.1.1", port: 1)])
        try registry.publish(client: "c", service: users, instances: [Instance(ip: "1.1.1.1", port: 2)])
        try registry.subscribe(client: "c", service: orders)
        try registry.subscribe(client: "watcher", service: orders)
        #expect(Set(registry.removeClient("c")) == [orders, users])
        #expect(registry.snapshot(of: orders).hosts.isEmpty)
        #expect(registry.subscribers(of: orders).map(\.client) == ["watcher"])
        #expect(!registry.hasClient("c"))
        #expect(registry.removeClient("c").isEmpty)
    }

    @Test func unknownClientsCannotWrite() {
        var registry = makeRegistry()
        #expect(throws: RegistryError.clientDisconnected("ghost")) {
            try registry.publish(client: "ghost", service: orders, instances: [Instance(ip: "1.1.1.1", port: 1)])
        }
        #expect(throws: RegistryError.self) { try registry.subscribe(client: "ghost", service: orders) }
    }

    @Test func ephemeralAndPersistentDoNotMix() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        registry.addClient("1.1.1.1:80#false", kind: .ipPort(ephemeral: false))
        try registry.publish(client: "c", service: orders, instances: [Instance(ip: "1.1.1.1", port: 1)])
        #expect(
            throws: RegistryError.invalidParameter(
                "Current service DEFAULT_GROUP@@orders is ephemeral service, can't register persistent instance.")
        ) {
            try registry.publish(
                client: "1.1.1.1:80#false", service: orders, instances: [Instance(ip: "1.1.1.1", port: 80)],
                ephemeral: false)
        }
    }

    @Test func subscribeReportsTheFirstTimeOnly() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        #expect(try registry.subscribe(client: "c", service: orders, clusters: ""))
        #expect(try !registry.subscribe(client: "c", service: orders, clusters: "A"))
        #expect(registry.subscribers(of: orders).first?.clusters == "A")
        registry.unsubscribe(client: "c", service: orders)
        #expect(registry.subscribers(of: orders).isEmpty)
    }

    @Test func revisionsAndRefreshTimesStrictlyIncreaseEvenIfTheClockStalls() throws {
        let clock = ManualClock()
        var registry = makeRegistry(clock: clock)
        registry.addClient("c", kind: .connection)
        var lastRevision: UInt64 = 0
        var lastRefTime: Int64 = 0
        for port in 1...5 {
            try registry.publish(client: "c", service: orders, instances: [Instance(ip: "1.1.1.1", port: port)])
            let snapshot = registry.snapshot(of: orders)
            #expect(snapshot.revision > lastRevision)
            #expect(snapshot.lastRefTime > lastRefTime)
            (lastRevision, lastRefTime) = (snapshot.revision, snapshot.lastRefTime)
        }
        clock.now.withLock { $0 = 10 }  // the wall clock steps back
        try registry.publish(client: "c", service: orders, instances: [Instance(ip: "1.1.1.1", port: 99)])
        #expect(registry.snapshot(of: orders).lastRefTime > lastRefTime)
    }

    @Test func republishingIdenticalDataIsNotAChange() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        let instance = Instance(ip: "1.1.1.1", port: 1)
        #expect(try registry.publish(client: "c", service: orders, instances: [instance]) == [orders])
        #expect(try registry.publish(client: "c", service: orders, instances: [instance]) == [])
    }

    @Test func snapshotsFilterByClusterHealthAndEnabled() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        try registry.publish(
            client: "c", service: orders,
            instances: [
                Instance(ip: "1.0.0.1", port: 1, clusterName: "A"),
                Instance(ip: "1.0.0.2", port: 1, healthy: false, clusterName: "B"),
                Instance(ip: "1.0.0.3", port: 1, enabled: false, clusterName: "A"),
            ])
        #expect(registry.snapshot(of: orders).hosts.map(\.instance.ip) == ["1.0.0.1", "1.0.0.2"])
        #expect(
            registry.snapshot(of: orders, filter: SnapshotFilter(clusters: "B")).hosts.map(\.instance.ip) == ["1.0.0.2"]
        )
        #expect(
            registry.snapshot(of: orders, filter: SnapshotFilter(healthyOnly: true)).hosts.map(\.instance.ip) == [
                "1.0.0.1"
            ])
        #expect(registry.snapshot(of: ServiceKey(namespace: nil, group: nil, name: "none")).hosts.isEmpty)
    }

    @Test func listServicesPagesSortedNamesAndMapsEmptyNamespaceToPublic() throws {
        var registry = makeRegistry()
        registry.addClient("c", kind: .connection)
        for name in ["c", "a", "b"] {
            try registry.publish(
                client: "c", service: ServiceKey(namespace: "", group: nil, name: name),
                instances: [Instance(ip: "1.1.1.1", port: 1)])
        }
        try registry.subscribe(client: "c", service: ServiceKey(namespace: nil, group: nil, name: "subscribed-only"))
        let page1 = registry.listServices(namespace: "", group: "", pageNo: 1, pageSize: 2)
        #expect(page1.count == 3 && page1.names == ["a", "b"])
        #expect(
            registry.listServices(namespace: "public", group: "DEFAULT_GROUP", pageNo: 2, pageSize: 2).names == ["c"])
        #expect(registry.listServices(namespace: "public", group: "DEFAULT_GROUP", pageNo: 9, pageSize: 2).names == [])
        #expect(registry.listServices(namespace: "other", group: "DEFAULT_GROUP", pageNo: 1, pageSize: 2).count == 0)
    }
}

@Suite("Validation")
struct ValidationTests {
    let validation = Validation()

    @Test(arguments: ["", "@lead", "a@@b", "has space", "中文", String(repeating: "x", count: 513)])
    func illegalServiceNames(_ name: String) {
        #expect(throws: RegistryError.self) { try validation.checkServiceName(name) }
    }

    @Test(arguments: ["orders", "orders.v2", "a@b", "svc:with-colons_and.dots", String(repeating: "x", count: 512)])
    func legalServiceNames(_ name: String) throws {
        try validation.checkServiceName(name)
    }

    @Test func groupsNamespacesAndClusters() {
        #expect(throws: RegistryError.self) { try validation.checkGroup("bad group") }
        #expect(throws: RegistryError.self) { try validation.checkGroup(String(repeating: "g", count: 129)) }
        #expect(throws: RegistryError.self) { try validation.checkNamespace("ns/1") }
        #expect(throws: RegistryError.self) { try validation.checkClusters("A,bad cluster") }
        #expect(throws: Never.self) { try validation.checkClusters("A,B_1,c-2") }
        #expect(throws: Never.self) { try validation.checkGroup("DEFAULT_GROUP") }
    }

    @Test func instances() {
        #expect(throws: Never.self) {
            try validation.check(instance: Instance(ip: "10.0.0.1", port: 8080, weight: 10000))
        }
        for bad in [
            Instance(ip: "", port: 1), Instance(ip: "10.0.0.1", port: -1), Instance(ip: "10.0.0.1", port: 65536),
            Instance(ip: "10.0.0.1", port: 1, weight: -0.5), Instance(ip: "10.0.0.1", port: 1, weight: .nan),
            Instance(ip: "10.0.0.1", port: 1, weight: 10001), Instance(ip: "10 0 0 1", port: 1),
            Instance(ip: "10.0.0.1", port: 1, metadata: ["k": String(repeating: "v", count: 1024)]),
            Instance(ip: "10.0.0.1", port: 1, metadata: [PreservedMetadata.heartbeatInterval: "20000"]),
        ] {
            #expect(throws: RegistryError.self, "\(bad)") { try validation.check(instance: bad) }
        }
    }
}
