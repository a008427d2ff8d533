import Synchronization

/// Runs `body`, but answers after `limit` at the latest: a database that stops answering must
/// not hold a client's request (or a member's start) for longer. On time-out `body` is
/// cancelled (postgres-nio then gives up waiting for a connection) and its result dropped.
func withDeadline<T: Sendable>(
    _ limit: Duration, failure message: String, _ body: @escaping @Sendable () async throws(StorageError) -> T
) async throws(StorageError) -> T {
    let race = DeadlineRace<T>()
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StorageError>, Never>) in
        race.start(continuation)
        let work = Task {
            let result: Result<T, StorageError>
            do throws(StorageError) { result = .success(try await body()) } catch { result = .failure(error) }
            race.finish(result)
        }
        race.arm(
            Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                race.finish(.failure(StorageError(message, unavailable: true)))
                work.cancel()
            })
    }
    return try result.get()
}

/// The first of the work and the timer to finish answers; the other is ignored.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<T, StorageError>, Never>?
        var timer: Task<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<Result<T, StorageError>, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func arm(_ timer: Task<Void, Never>) {
        let cancel = state.withLock { state -> Bool in
            state.timer = timer
            return state.finished
        }
        if cancel { timer.cancel() }
    }

    func finish(_ result: Result<T, StorageError>) {
        let (continuation, timer) = state.withLock { state in
            state.finished = true
            defer { state.continuation = nil }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume(returning: result)
    }
}
