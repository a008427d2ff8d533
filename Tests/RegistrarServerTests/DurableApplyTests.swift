import Logging
import RegistrarCore
import RegistrarStorage
import Testing

@testable import RegistrarServer

/// How a member applies stored rows: a batch from the change log is idempotent (applied twice,
/// it changes nothing the second time), and a member that reloads after falling behind the
/// pruned log ends with exactly the stored state, deletes included.
@Suite("Applying stored changes")
struct DurableApplyTests {
    private let orders = ServiceKey(namespace: "public", group: "DEFAULT_GROUP", name: "orders")
    private let stale = ServiceKey(namespace: "dev", group: "G", name: "stale")

    @Test func aBatchAppliedTwiceChangesNothingTheSecondTime() throws {
        var registry = Registry(wallClock: { 1_000 })
        let batch: [StoredChange] = [
            .putNamespace(NamespaceInfo(id: "dev", name: "Dev")),
            .putService(orders, ServiceMetadata(protectThreshold: 0.3, ephemeral: false)),
            .putHealthCheck(orders, cluster: "DEFAULT", HealthCheckSpec(kind: .none)),
            .putInstance(orders, Instance(ip: "10.0.0.1", port: 80)),
        ]
        var first = Set<ServiceKey>()
        for change in batch { first.formUnion(try DurableApply.apply(change, to: &registry)) }
        #expect(first == [orders])
        let revision = registry.revision(of: orders)
        for change in batch { #expect(try DurableApply.apply(change, to: &registry).isEmpty, "\(change)") }
        #expect(registry.revision(of: orders) == revision)
        let flip = StoredChange.setHealth(orders, ip: "10.0.0.1", port: 80, healthy: false)
        #expect(try DurableApply.apply(flip, to: &registry) == [orders])
        #expect(try DurableApply.apply(flip, to: &registry).isEmpty)
        #expect(registry.persistentInstance(ip: "10.0.0.1", port: 80, in: orders)?.healthy == false)
    }

    @Test func aReloadEndsWithExactlyTheStoredState() throws {
        var registry = Registry(wallClock: { 1_000 })
        for change: StoredChange in [
            .putNamespace(NamespaceInfo(id: "dev", name: "Dev")), .putNamespace(NamespaceInfo(id: "gone", name: "x")),
            .putService(stale, ServiceMetadata(protectThreshold: 0, ephemeral: false)),
            .putInstance(orders, Instance(ip: "10.0.0.1", port: 80)),
            .putInstance(orders, Instance(ip: "10.0.0.2", port: 80)),
        ] {
            _ = try DurableApply.apply(change, to: &registry)
        }
        var state = StoredState()
        state.namespaces = [NamespaceInfo(id: "dev", name: "Development")]
        state.instances = [
            (orders, Instance(ip: "10.0.0.2", port: 80, weight: 3)), (orders, Instance(ip: "10.0.0.3", port: 81)),
        ]
        for change in DurableApply.changes(from: registry.durableContents(), to: state) {
            _ = try DurableApply.apply(change, to: &registry)
        }
        let contents = registry.durableContents()
        #expect(contents.namespaces.map(\.id).sorted() == ["dev"])
        #expect(contents.namespaces.first?.name == "Development")
        #expect(contents.services.isEmpty)
        #expect(
            contents.instances[orders]?.map { "\($0.ip):\($0.port)/\($0.weight)" }.sorted() == [
                "10.0.0.2:80/3.0", "10.0.0.3:81/1.0",
            ])
    }
}
