import Synchronization

/// How far this member has applied a shared store's change log, and a way to wait for a
/// position: a member that commits a write waits until its follower has applied it (with
/// everything before it, in order) before answering, so the answer's author reads its write.
///
/// Threading: thread-safe.
final class ChangeLogCursor: Sendable {
    private struct Waiter {
        var id: Int
        var position: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var position: Int64
        var waiters: [Waiter] = []
        var nextId = 0
    }

    private let state: Mutex<State>
    /// Wakes the follower (a commit of ours, a notification, a tick).
    let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(position: Int64) {
        state = Mutex(State(position: position))
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var position: Int64 { state.withLock { $0.position } }

    /// Asks the follower to read the log now.
    func poke() { wake.yield() }

    /// Called by the follower once everything up to `position` is applied.
    func advance(to position: Int64) {
        let ready = state.withLock { state -> [Waiter] in
            state.position = max(state.position, position)
            let ready = state.waiters.filter { $0.position <= state.position }
            state.waiters.removeAll { $0.position <= state.position }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    /// Returns true once `position` is applied, false if that takes longer than `limit`.
    func waitUntilApplied(_ position: Int64, limit: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            let id = state.withLock { state -> Int? in
                guard state.position < position else { return nil }
                state.nextId += 1
                state.waiters.append(Waiter(id: state.nextId, position: position, continuation: continuation))
                return state.nextId
            }
            guard let id else { return continuation.resume(returning: true) }
            poke()
            Task {
                try? await Task.sleep(for: limit)
                let late = state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                late?.continuation.resume(returning: false)
            }
        }
    }

    func finish() { wake.finish() }
}
