import Foundation
import Logging
import RegistrarCore
import RegistrarStorage
import Testing

/// The PostgreSQL store as members share it: the change log holds every commit of every member
/// in commit order, a load says which position it includes, pruning makes a member that is
/// behind reload, and a schema newer than this build's or an unreachable database is refused
/// clearly. Runs against the tests' real PostgreSQL.
@Suite("Shared store (PostgreSQL change log)", .enabled(if: TestDatabase.adminURL != nil))
struct SharedStoreTests {
    private let service = ServiceKey(namespace: "public", group: "DEFAULT_GROUP", name: "db")

    @Test func twoMembersCommitsAreInTheLogInCommitOrderWithTheirBatches() async throws {
        let fixture = try StoreFixture.make(.postgres)
        let first = try await fixture.openShared(origin: "a")
        let second = try await fixture.openShared(origin: "b")
        let one = try #require(try await first.commit([.putInstance(service, Instance(ip: "10.0.0.1", port: 1))]))
        let two = try #require(try await second.commit([.deleteInstance(service, ip: "10.0.0.1", port: 1)]))
        let three = try #require(try await first.commit([.putNamespace(NamespaceInfo(id: "dev", name: "Dev"))]))
        #expect(one < two && two < three)

        let entries = try #require(try await second.changes(after: 0, limit: 10))
        #expect(entries.map(\.position) == [one, two, three])
        #expect(try entries[1].changes.get() == [.deleteInstance(service, ip: "10.0.0.1", port: 1)])
        #expect(try #require(try await first.changes(after: two, limit: 10)).map(\.position) == [three])
        #expect(try #require(try await first.changes(after: three, limit: 10)).isEmpty)
        // A load includes everything up to the position it reports.
        let state = try await second.load()
        #expect(state.position == three)
        #expect(state.instances.isEmpty && state.namespaces.map(\.id) == ["dev"])
        await first.close()
        await second.close()
    }

    @Test func aMemberBehindThePrunedLogIsToldToReload() async throws {
        let fixture = try StoreFixture.make(.postgres)
        let store = try await fixture.openShared()
        for port in 1...5 { try await store.commit([.putInstance(service, Instance(ip: "10.0.0.9", port: port))]) }
        let last = try #require(try await store.load().position)
        try await store.pruneChangeLog(olderThan: .zero, keep: 2)
        #expect(try await store.changes(after: 0, limit: 10) == nil)
        #expect(try await store.changes(after: last - 3, limit: 10) == nil)
        // Within the kept part, following goes on as before.
        #expect(try #require(try await store.changes(after: last - 2, limit: 10)).map(\.position) == [last - 1, last])
        #expect(try await store.load().position == last)
        await store.close()
    }

    @Test func reopeningDoesNotMigrateAgainAndANewerSchemaIsRefused() async throws {
        let fixture = try StoreFixture.make(.postgres)
        let store = try await fixture.openShared()
        #expect(try await store.migrate() == (from: 1, to: 1))
        await store.close()
        try TestDatabase.psql(fixture.location, "INSERT INTO registrar_schema (version, description) VALUES (99, 'x')")
        do {
            let newer = try await fixture.openShared()
            await newer.close()
            Issue.record("a schema newer than this build's was accepted")
        } catch let error as StorageError {
            #expect(error.description.contains("version 99, newer than this registrar's 1"), "\(error)")
        }
    }

    @Test func anUnreachableDatabaseIsRefusedAsUnavailable() async throws {
        let url = try DatabaseURL("postgres://registrar:x@127.0.0.1:\(try closedPort())/registrar?sslmode=disable")
        do {
            let store = try await PostgresStore.open(
                url, origin: "test", timeout: .milliseconds(500), logger: Logger(label: "test"))
            await store.close()
            Issue.record("a store opened on a closed port")
        } catch {
            #expect(error.isUnavailable, "\(error)")
            #expect(error.description.contains("127.0.0.1"), "\(error)")
        }
    }

    @Test func aURLWithoutUserOrDatabaseOrWithAnUnknownTLSModeIsRefusedWithoutItsPassword() throws {
        for (text, reason) in [
            ("postgres://127.0.0.1/db", "no user"), ("postgres://u:pw@127.0.0.1", "no database"),
            ("postgres://u:hunter2@127.0.0.1/db?sslmode=maybe", "sslmode 'maybe'"),
            ("mysql://u:hunter2@h/db", "must be a URL like"),
        ] {
            #expect(throws: StorageError.self) { try DatabaseURL(text) }
            do {
                _ = try DatabaseURL(text)
            } catch {
                #expect(error.description.contains(reason), "\(error)")
                #expect(!error.description.contains("hunter2"), "\(error)")
            }
        }
        #expect(
            try DatabaseURL("postgres://u:pw@db.example:6432/reg?sslmode=require").description
                == "postgres://u@db.example:6432/reg?sslmode=require")
    }

    private func closedPort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
