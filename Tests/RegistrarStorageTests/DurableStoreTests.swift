import Foundation
import RegistrarCore
import RegistrarStorage
import Testing

/// The SQLite store on its own: what is committed is what a reopened store loads, changes are
/// idempotent row writes, and a file held by another store is refused with a clear reason.
@Suite("Durable store (SQLite file)")
struct DurableStoreTests {
    private func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-store-\(UUID().uuidString)")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func committedRowsSurviveReopeningAndDeletesRemoveThem() async throws {
        let dir = directory()
        let service = ServiceKey(namespace: "dev", group: "G", name: "db")
        let instance = Instance(ip: "10.0.0.7", port: 5432, weight: 2, metadata: ["role": "primary"])
        let other = Instance(ip: "10.0.0.8", port: 5432)
        do {
            let store = try DurableStore(directory: dir)
            try await store.commit([
                .putNamespace(NamespaceInfo(id: "dev", name: "Development")),
                .putInstance(service, instance), .putInstance(service, other),
                .putHealthCheck(service, cluster: "DEFAULT", .tcp),
            ])
            // The same row written twice is one row; a delete removes exactly its row.
            try await store.commit([
                .putInstance(service, instance), .deleteInstance(service, ip: "10.0.0.8", port: 5432),
            ])
            store.close()
        }
        let reopened = try DurableStore(directory: dir)
        defer { reopened.close() }
        let state = try reopened.load()
        #expect(state.namespaces == [NamespaceInfo(id: "dev", name: "Development")])
        #expect(state.instances.count == 1)
        #expect(state.instances.first?.service == service)
        #expect(state.instances.first?.instance.ip == "10.0.0.7")
        #expect(state.instances.first?.instance.weight == 2)
        #expect(state.instances.first?.instance.metadata == ["role": "primary"])
        #expect(state.healthChecks.count == 1 && state.healthChecks.first?.cluster == "DEFAULT")
    }

    @Test func usersRolesAndPermissionsSurviveReopeningAsTheModelSawThem() async throws {
        let dir = directory()
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
            let store = try DurableStore(directory: dir)
            try await store.commit(changes.map { .access($0) })
            store.close()
        }
        let reopened = try DurableStore(directory: dir)
        defer { reopened.close() }
        let loaded = try reopened.load().access
        #expect(loaded == expected)
        #expect(loaded.users.keys.sorted() == ["ann", "nacos"] && loaded.hasAdmin)
        #expect(loaded.permissions == [Permission(role: "readers", resource: "public:*:*", action: "r")])
    }

    @Test func aSecondStoreOnTheSameFileIsRefusedWithTheReason() throws {
        let dir = directory()
        let first = try DurableStore(directory: dir)
        defer { first.close() }
        #expect {
            _ = try DurableStore(directory: dir)
        } throws: { error in
            (error as? StorageError)?.description.contains("in use by another process") == true
        }
    }
}
