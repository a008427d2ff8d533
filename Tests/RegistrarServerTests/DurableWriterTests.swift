import Logging
import RegistrarCore
import RegistrarStorage
import RegistrarTesting
import Synchronization
import Testing

@testable import RegistrarServer

/// A shared store that only numbers its commits: what the writer does with the change-log
/// cursor is the subject, so nothing is stored.
private final class NumberingStore: DurableStore {
    let commits = Mutex<Int64>(0)
    var location: String { "numbering" }
    func load() async throws(StorageError) -> StoredState { StoredState() }
    func commit(_ changes: [StoredChange]) async throws(StorageError) -> Int64? {
        commits.withLock { count in
            count += 1
            return count
        }
    }
    func close() async {}
}

/// The cursor position at which each write was checked against the registry, in order.
private final class Checks: Sendable {
    let positions = Mutex<[Int64]>([])
}

@Suite("Durable writer with a shared store")
struct DurableWriterTests {
    /// A write that notes in `seen` where the cursor was when it was checked.
    private func write(_ scope: DurableWrite.Scope, _ cursor: ChangeLogCursor, _ seen: Checks) -> DurableWrite {
        DurableWrite(
            scope: scope,
            prepare: { _ throws(RegistryError) in
                seen.positions.withLock { $0.append(cursor.position) }
                return ([.putNamespace(NamespaceInfo(id: "dev", name: "Development"))], [])
            },
            apply: { _ throws(RegistryError) in [] })
    }

    /// The next batch commits before the previous one is applied here, unless it conflicts
    /// with it: then it is checked against the registry only once that one is applied, even
    /// when it arrives after the writer went idle.
    @Test func aConflictingWriteWaitsForTheEarlierOneToBeAppliedAndOthersDoNot() async throws {
        let store = NumberingStore()
        let cursor = ChangeLogCursor(position: 0)
        let writer = DurableWriter(
            registry: RegistryStore(registry: Registry(wallClock: { 1 })), store: store, cursor: cursor,
            readiness: nil, refusal: nil, commitDuration: RegistrarMetrics().timer("commit"),
            logger: Logger(label: "test"))
        let service = ServiceKey(namespace: "public", group: "G", name: "orders")
        let other = ServiceKey(namespace: "public", group: "G", name: "stock")
        let seen = Checks()
        let first = Task { try await writer.submit(write(.service(service), cursor, seen)) }
        #expect(try await eventually { store.commits.withLock { $0 } == 1 })
        // Unrelated: committed at once, though batch 1 is not applied here yet.
        let unrelated = Task { try await writer.submit(write(.instances(other), cursor, seen)) }
        #expect(try await eventually { store.commits.withLock { $0 } == 2 })
        // Conflicts with batch 1: not checked until the follower has applied it.
        let conflicting = Task { try await writer.submit(write(.instances(service), cursor, seen)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(store.commits.withLock { $0 } == 2)
        cursor.advance(to: 2)
        #expect(try await eventually { store.commits.withLock { $0 } == 3 })
        #expect(seen.positions.withLock { $0 } == [0, 0, 2])
        cursor.advance(to: 3)
        for task in [first, unrelated, conflicting] { _ = try await task.value }
    }
}
