import CoreMetrics
import Logging
import RegistrarCore
import RegistrarStorage
import Synchronization

/// One durable mutation. It is checked against the registry, written to disk, and only then
/// applied to the registry, so nothing unacknowledged by the disk is ever visible.
struct DurableWrite: Sendable {
    /// What a write may conflict with inside one group commit.
    enum Scope: Sendable, Equatable {
        /// Instance writes of one service: any number share a batch.
        case instances(ServiceKey)
        /// A service-level write: alone among the writes of its service.
        case service(ServiceKey)
        /// Namespace writes: alone in their batch.
        case global

        func conflicts(with other: Scope) -> Bool {
            switch (self, other) {
            case (.global, _), (_, .global): true
            case let (.instances(a), .service(b)), let (.service(a), .instances(b)), let (.service(a), .service(b)):
                a == b
            case (.instances, .instances): false
            }
        }
    }

    var scope: Scope
    /// Checks the write against the registry as it is, and gives the rows to write and the
    /// rows that would restore the disk if applying it fails after all.
    var prepare: @Sendable (Registry) throws(RegistryError) -> (changes: [StoredChange], undo: [StoredChange])
    /// Applies the write to the registry; returns the services it changed.
    var apply: @Sendable (inout Registry) throws(RegistryError) -> [ServiceKey]
}

/// Writes durable data with group commit: writes that arrive while a transaction is on its way
/// to disk go together in the next one (one fsync for all), which is how many persistent
/// registrations per second survive `synchronous = FULL`.
///
/// Order: a batch is checked against the registry, committed, then applied in arrival order.
/// A write whose apply fails after its commit (an ephemeral registration raced it into the same
/// new service) is undone on disk, so memory and disk never disagree.
///
/// With a shared store (`cursor` set) the batch is not applied here: the `DurableFollower`
/// applies every member's batches in change-log order, and the writer answers once the
/// follower has reached its batch. The next batch commits meanwhile (the database round trip,
/// not the follower, bounds the rate), unless it conflicts with a batch not yet applied here:
/// it is checked against the registry only once that batch is in it.
///
/// Threading: thread-safe. One drain task at a time does the work.
final class DurableWriter: Sendable {
    private struct Pending: Sendable {
        var write: DurableWrite
        var continuation: CheckedContinuation<Result<[ServiceKey], RegistryError>, Never>
    }

    private struct Queue: ~Copyable {
        var pending: [Pending] = []
        var draining = false
        /// With a shared store: batches committed and not yet applied here. A batch is checked
        /// against the registry only once every earlier batch it conflicts with is in it.
        var unapplied: [(position: Int64, scopes: [DurableWrite.Scope])] = []
    }

    private let queue = Mutex(Queue())
    /// Set in cluster mode without a shared store: every write is refused.
    private let refusal: RegistryError?
    /// The open store; nil once closed.
    private let storage: Mutex<(any DurableStore)?>
    /// With a shared store: where the follower has applied the change log to.
    private let cursor: ChangeLogCursor?
    /// Whether the shared store answers (the follower finds out): while it does not, writes
    /// fail at once instead of each waiting out the database deadline.
    private let readiness: Readiness?
    private let registry: RegistryStore
    private let logger: Logger
    /// `registrar_durable_write_duration_seconds`: one commit of a batch.
    private let commitDuration: CoreMetrics.Timer
    /// Most writes per transaction.
    private let maximumBatch = 512

    init(
        registry: RegistryStore, store: any DurableStore, cursor: ChangeLogCursor?, readiness: Readiness?,
        refusal: RegistryError?, commitDuration: CoreMetrics.Timer, logger: Logger
    ) {
        self.commitDuration = commitDuration
        self.registry = registry
        self.storage = Mutex(store)
        self.cursor = cursor
        self.readiness = readiness
        self.refusal = refusal
        self.logger = logger
    }

    /// Stops taking writes, lets the batch on its way to disk finish (bounded), and closes the
    /// store, releasing the data file's lock.
    func close() async {
        guard let store = storage.withLock({ $0.take() }) else { return }
        for _ in 0..<500 where queue.withLock({ $0.draining }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        await store.close()
    }

    /// Runs `write`; returns the services it changed once it is on disk and in the registry.
    func submit(_ write: DurableWrite) async throws(RegistryError) -> [ServiceKey] {
        if let refusal { throw refusal }
        if let readiness, !readiness.databaseReachable {
            throw RegistryError(
                code: 503, message: "the write was not stored: the database is unreachable (retry once it is back)")
        }
        let result = await withCheckedContinuation { continuation in
            let startDrain = queue.withLock { queue in
                queue.pending.append(Pending(write: write, continuation: continuation))
                defer { queue.draining = true }
                return !queue.draining
            }
            if startDrain { Task { await self.drain() } }
        }
        return try result.get()
    }

    private func drain() async {
        while true {
            let batch = queue.withLock { queue -> [Pending] in
                var taken: [Pending] = []
                // A prefix only: a write never overtakes an earlier one it conflicts with.
                for pending in queue.pending {
                    if taken.count == maximumBatch
                        || taken.contains(where: { $0.write.scope.conflicts(with: pending.write.scope) })
                    {
                        break
                    }
                    taken.append(pending)
                }
                queue.pending.removeFirst(taken.count)
                if taken.isEmpty { queue.draining = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            if let cursor {
                let applied = cursor.position
                let conflicting = queue.withLock { queue in
                    queue.unapplied.removeAll { $0.position <= applied }
                    return queue.unapplied.last { earlier in
                        batch.contains { pending in earlier.scopes.contains { $0.conflicts(with: pending.write.scope) }
                        }
                    }
                }
                if let conflicting { _ = await cursor.waitUntilApplied(conflicting.position, limit: .seconds(2)) }
            }
            if let position = await run(batch) {
                queue.withLock { $0.unapplied.append((position, batch.map(\.write.scope))) }
            }
        }
    }

    /// Returns the change-log position of a batch committed to a shared store: its answers go
    /// out once the follower has applied it, while the next batch is already on its way.
    private func run(_ batch: [Pending]) async -> Int64? {
        guard let store = storage.withLock({ $0 }) else {
            for pending in batch {
                pending.continuation.resume(
                    returning: .failure(
                        RegistryError(code: 503, message: "the data store is closed: this node is shutting down")))
            }
            return nil
        }
        var accepted: [(pending: Pending, undo: [StoredChange])] = []
        var changes: [StoredChange] = []
        registry.read { registry in
            for pending in batch {
                do throws(RegistryError) {
                    let prepared = try pending.write.prepare(registry)
                    changes += prepared.changes
                    accepted.append((pending, prepared.undo))
                } catch {
                    pending.continuation.resume(returning: .failure(error))
                }
            }
        }
        guard !accepted.isEmpty else { return nil }
        let position: Int64?
        let started = ContinuousClock.now
        defer { commitDuration.record(since: started) }
        do {
            position = try await store.commit(changes)
        } catch {
            logger.error(
                "durable write failed; \(accepted.count) request(s) answered with an error",
                metadata: ["error": "\(error)"])
            let failure = RegistryError(
                code: error.isUnavailable ? 503 : 500, message: "the write was not stored: \(error)")
            for (pending, _) in accepted { pending.continuation.resume(returning: .failure(failure)) }
            return nil
        }
        if let cursor {
            // Committed: the follower applies and pushes it; answer once it has (or soon anyway).
            let (logger, answered) = (logger, accepted.map(\.pending))
            Task {
                if let position, !(await cursor.waitUntilApplied(position, limit: .seconds(2))) {
                    logger.warning(
                        "a durable write is committed but not yet applied here", metadata: ["position": "\(position)"])
                }
                for pending in answered { pending.continuation.resume(returning: .success([])) }
            }
            return position
        }
        var outcomes: [Result<[ServiceKey], RegistryError>] = []
        var undo: [StoredChange] = []
        registry.withRegistry { registry in
            for (pending, pendingUndo) in accepted {
                do throws(RegistryError) {
                    outcomes.append(.success(try pending.write.apply(&registry)))
                } catch {
                    undo = pendingUndo + undo  // latest first, so the earliest state wins
                    outcomes.append(.failure(error))
                }
            }
        }
        if !undo.isEmpty {
            do {
                try await store.commit(undo)
            } catch {
                logger.critical(
                    "could not undo a refused durable write; the data file holds it until it is deregistered",
                    metadata: ["error": "\(error)"])
            }
        }
        for ((pending, _), outcome) in zip(accepted, outcomes) { pending.continuation.resume(returning: outcome) }
        return nil
    }
}
