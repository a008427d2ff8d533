import Logging
import RegistrarCore
import RegistrarStorage

/// Follows a shared store's change log: on a commit notification (or every `pollInterval`
/// without one) it reads the batches after the last one applied and applies them, in order,
/// to the registry and access control, then pushes what changed. Every member's writes,
/// this member's own included, reach memory this way, so all members apply them in one order.
///
/// A member that falls behind the pruned part of the log loads the whole state again. While
/// the database is unreachable it keeps retrying each round and marks readiness; once the
/// database is back it catches up from where it was.
///
/// Threading: `run()` is one task; cancel it to stop.
struct DurableFollower: Sendable {
    struct Settings: Sendable {
        var pollInterval: Duration = .seconds(2)
        var batchSize = 256
        var pruneInterval: Duration = .seconds(60)
        var retention: Duration = .seconds(600)
        var keep = 10_000
    }

    let store: any SharedDurableStore
    let registry: RegistryStore
    let changes: ChangeNotifier
    let access: AccessControl
    let cursor: ChangeLogCursor
    let readiness: Readiness
    let settings: Settings
    let counters: DurableCounters
    let logger: Logger

    func run() async {
        let notifications = store.commitNotifications()
        let cursor = self.cursor
        let forward = Task { for await _ in notifications { cursor.poke() } }
        let ticker = Task { [settings] in
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.pollInterval)
                cursor.poke()
            }
        }
        defer {
            forward.cancel()
            ticker.cancel()
        }
        var lastPrune = ContinuousClock.now
        for await _ in cursor.wakes {
            if Task.isCancelled { break }
            await catchUp()
            if ContinuousClock.now - lastPrune >= settings.pruneInterval, readiness.databaseReachable {
                lastPrune = .now
                do throws(StorageError) {
                    try await store.pruneChangeLog(olderThan: settings.retention, keep: settings.keep)
                } catch {
                    logger.warning("cannot prune the change log", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Applies everything committed after the cursor.
    func catchUp() async {
        do throws(StorageError) {
            while true {
                guard let entries = try await store.changes(after: cursor.position, limit: settings.batchSize) else {
                    try await reload()
                    continue
                }
                reachable()
                for entry in entries {
                    switch entry.changes {
                    case let .success(batch):
                        apply(batch)
                        counters.changeLogBatchesApplied.increment()
                    case let .failure(error):
                        // Skipping it would diverge from the others: stop here, loudly, until upgraded.
                        logger.critical("cannot follow the change log", metadata: ["error": "\(error)"])
                        return
                    }
                    cursor.advance(to: entry.position)
                }
                if entries.count < settings.batchSize { return }
            }
        } catch {
            if readiness.setDatabaseReachable(false) {
                logger.error(
                    "the database is unreachable: durable writes fail until it returns; ephemeral data is served",
                    metadata: ["database": "\(store.location)", "error": "\(error)"])
            }
        }
    }

    private func reachable() {
        if readiness.setDatabaseReachable(true) {
            logger.notice(
                "the database is reachable again; catching up from the change log",
                metadata: ["database": "\(store.location)", "position": "\(cursor.position)"])
        }
    }

    private func apply(_ batch: [StoredChange]) {
        var changed = Set<ServiceKey>()
        var accessChanges: [AccessChange] = []
        var refused: [(StoredChange, RegistryError)] = []
        registry.withRegistry { registry in
            for change in batch {
                if case let .access(accessChange) = change {
                    accessChanges.append(accessChange)
                    continue
                }
                do throws(RegistryError) {
                    changed.formUnion(try DurableApply.apply(change, to: &registry))
                } catch {
                    refused.append((change, error))
                }
            }
        }
        for (change, error) in refused.prefix(10) {
            logger.error(
                "a committed change cannot be applied here; this member's memory differs from the database for it",
                metadata: ["change": "\(change)", "error": "\(error.message)"])
        }
        if !accessChanges.isEmpty { access.apply(accessChanges) }
        if !changed.isEmpty { changes.servicesChanged(Array(changed)) }
    }

    /// The log no longer reaches back to the cursor: make memory equal to the stored state.
    private func reload() async throws(StorageError) {
        let state = try await store.load()
        counters.changeLogReloads.increment()
        let changes = registry.read { DurableApply.changes(from: $0.durableContents(), to: state) }
        logger.warning(
            "this member fell behind the pruned change log; reloading the durable state",
            metadata: ["from": "\(cursor.position)", "to": "\(state.position ?? 0)"])
        apply(changes)
        access.replace(state.access)
        cursor.advance(to: state.position ?? 0)
    }
}
