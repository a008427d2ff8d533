import Foundation
import RegistrarCore
import RegistrarStorage
import Testing

/// Both stores, SQLite and PostgreSQL, against one contract: what is committed is what a
/// reopened store loads, and changes are idempotent row writes. Then SQLite's own: a file held by
/// another store is refused with a clear reason.
@Suite("Durable stores (SQLite file and PostgreSQL)")
struct DurableStoreTests {
    private func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-store-\(UUID().uuidString)")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: StoreKind.available)
    func committedRowsSurviveReopeningAndDeletesRemoveThem(_ kind: StoreKind) async throws {
        let fixture = try StoreFixture.make(kind)
        let service = ServiceKey(namespace: "dev", group: "G", name: "db")
        let instance = Instance(ip: "10.0.0.7", port: 5432, weight: 2, metadata: ["role": "primary"])
        let other = Instance(ip: "10.0.0.8", port: 5432)
        do {
            let store = try await fixture.open()
            try await store.commit([
                .putNamespace(NamespaceInfo(id: "dev", name: "Development")),
                .putInstance(service, instance), .putInstance(service, other),
                .putHealthCheck(service, cluster: "DEFAULT", .tcp),
            ])
            // The same row written twice is one row; a delete removes exactly its row.
            try await store.commit([
                .putInstance(service, instance), .deleteInstance(service, ip: "10.0.0.8", port: 5432),
            ])
            await store.close()
        }
        let reopened = try await fixture.open()
        let state = try await reopened.load()
        await reopened.close()
        #expect(state.namespaces == [NamespaceInfo(id: "dev", name: "Development")])
        #expect(state.instances.count == 1)
        #expect(state.instances.first?.service == service)
        #expect(state.instances.first?.instance.ip == "10.0.0.7")
        #expect(state.instances.first?.instance.weight == 2)
        #expect(state.instances.first?.instance.metadata == ["role": "primary"])
        #expect(state.healthChecks.count == 1 && state.healthChecks.first?.cluster == "DEFAULT")
    }

    /// One batch is applied in order, however the store groups its rows: the last write of an
    /// instance wins, and a delete between two writes sees the first and not the second.
    @Test(arguments: StoreKind.available)
    func aBatchIsAppliedInOrderWithTheLastWriteOfAnInstanceWinning(_ kind: StoreKind) async throws {
        let fixture = try StoreFixture.make(kind)
        let service = ServiceKey(namespace: "public", group: "G", name: "cache")
        let a = Instance(ip: "10.2.0.1", port: 6379, weight: 1, customInstanceId: "first")
        let b = Instance(ip: "10.2.0.2", port: 6379)
        let c = Instance(ip: "10.2.0.3", port: 6379)
        do {
            let store = try await fixture.open()
            try await store.commit([
                .putInstance(service, a), .putInstance(service, b),
                .putInstance(service, Instance(ip: "10.2.0.1", port: 6379, weight: 3)),
                .deleteInstance(service, ip: "10.2.0.2", port: 6379),
                .putInstance(service, c), .putInstance(service, Instance(ip: "10.2.0.3", port: 6379, weight: 4)),
            ])
            await store.close()
        }
        let reopened = try await fixture.open()
        let state = try await reopened.load()
        await reopened.close()
        let stored = Dictionary(uniqueKeysWithValues: state.instances.map { ($0.instance.ip, $0.instance) })
        #expect(stored.keys.sorted() == ["10.2.0.1", "10.2.0.3"])
        #expect(stored["10.2.0.1"]?.weight == 3 && stored["10.2.0.1"]?.customInstanceId == nil)
        #expect(stored["10.2.0.3"]?.weight == 4)
    }

    @Test(arguments: StoreKind.available)
    func usersRolesAndPermissionsSurviveReopeningAsTheModelSawThem(_ kind: StoreKind) async throws {
        let fixture = try StoreFixture.make(kind)
        let changes: [AccessChange] = [
            .putUser("nacos", passwordHash: "$2b$10$hash-a"), .putUser("ann", passwordHash: "$2b$10$hash-b"),
            .bind(RoleBinding(role: AccessModel.adminRole, username: "nacos")),
            .bind(RoleBinding(role: "readers", username: "ann")),
            .grant(Permission(role: "readers", resource: "public:*:*", action: "r")),
            .grant(Permission(role: "readers", resource: "dev:*:*", action: "rw")),
            .revoke(Permission(role: "readers", resource: "dev:*:*", action: "rw")),
            .putUser("gone", passwordHash: "x"), .bind(RoleBinding(role: "readers", username: "gone")),
            .deleteUser("gone"),
        ]
        var expected = AccessModel()
        for change in changes { expected.apply(change) }
        do {
            let store = try await fixture.open()
            try await store.commit(changes.map { .access($0) })
            await store.close()
        }
        let reopened = try await fixture.open()
        let loaded = try await reopened.load().access
        await reopened.close()
        #expect(loaded == expected)
        #expect(loaded.users.keys.sorted() == ["ann", "nacos"] && loaded.hasAdmin)
        #expect(loaded.permissions == [Permission(role: "readers", resource: "public:*:*", action: "r")])
    }

    @Test(arguments: StoreKind.available)
    func serviceMetadataAndProbedHealthAreStoredAsWritten(_ kind: StoreKind) async throws {
        let fixture = try StoreFixture.make(kind)
        let service = ServiceKey(namespace: "public", group: "DEFAULT_GROUP", name: "orders")
        let metadata = ServiceMetadata(
            protectThreshold: 0.5, metadata: ["team": "pay", "tier": "1"],
            selector: ServiceSelector(type: "label", expression: "CONSUMER.label.env = PROVIDER.label.env"),
            ephemeral: false)
        let check = HealthCheckSpec(kind: .http, path: "/health", expectedStatus: 204)
        do {
            let store = try await fixture.open()
            try await store.commit([
                .putService(service, metadata), .putHealthCheck(service, cluster: "east", check),
                .putInstance(service, Instance(ip: "10.1.0.1", port: 8080, clusterName: "east", customInstanceId: "a")),
                .putInstance(service, Instance(ip: "10.1.0.2", port: 8080, clusterName: "east")),
            ])
            try await store.commit([.setHealth(service, ip: "10.1.0.1", port: 8080, healthy: false)])
            await store.close()
        }
        let reopened = try await fixture.open()
        let state = try await reopened.load()
        await reopened.close()
        #expect(state.services.map(\.metadata) == [metadata])
        #expect(state.healthChecks.map(\.check) == [check])
        #expect(state.instances.map(\.instance.healthy) == [false, true])
        #expect(state.instances.first?.instance.customInstanceId == "a")
        #expect(state.instances.first?.instance.clusterName == "east")
    }

    @Test func aSecondStoreOnTheSameFileIsRefusedWithTheReason() throws {
        let dir = directory()
        let first = try SQLiteStore(directory: dir)
        defer { first.close() }
        #expect {
            _ = try SQLiteStore(directory: dir)
        } throws: { error in
            (error as? StorageError)?.description.contains("in use by another process") == true
        }
    }
}
