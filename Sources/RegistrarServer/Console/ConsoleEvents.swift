import RegistrarCore
import Synchronization

/// The live feed of the console's pages (server-sent events), fed by the change notifier: each
/// changed service as a `change` event, and every `interval` a tick (`ConsoleRoutes` then
/// writes the node's rates).
/// A browser that reads slowly loses its oldest events (`bufferSize`), never slows a write; at
/// most `maximumStreams` are open at once.
///
/// Threading: thread-safe; `servicesChanged` is called on the changing thread and only yields.
final class ConsoleEvents: ServiceChangeListener {
    enum Event: Sendable {
        case change(ServiceKey)
        case tick
    }

    /// What the `rates` event reports; the rates are deltas of the totals between ticks.
    struct Reading: Sendable {
        var requests: Double
        var pushes: Double
        var connections: Int
        var members: [(address: String, state: String)]
    }

    struct Settings: Sendable {
        var interval: Duration = .seconds(2)
        var maximumStreams = 64
        var bufferSize = 512
    }

    let settings: Settings
    private let streams = Mutex<(next: Int, open: [Int: AsyncStream<Event>.Continuation], closed: Bool)>(
        (0, [:], false))

    init(settings: Settings = .init()) {
        self.settings = settings
    }

    var openStreams: Int { streams.withLock { $0.open.count } }

    func servicesChanged(_ services: [ServiceKey]) {
        let open = streams.withLock { Array($0.open.values) }
        for continuation in open {
            for service in services { continuation.yield(.change(service)) }
        }
    }

    /// A new stream of events, with a tick every `interval`; nil when `maximumStreams` are open
    /// or the node is stopping. It ends when the reader cancels it or at `close()`.
    func open() -> AsyncStream<Event>? {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Event.self, bufferingPolicy: .bufferingNewest(settings.bufferSize))
        let id: Int? = streams.withLock { state in
            guard !state.closed, state.open.count < settings.maximumStreams else { return nil }
            state.next += 1
            state.open[state.next] = continuation
            return state.next
        }
        guard let id else { return nil }
        let interval = settings.interval
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(.tick)
            }
        }
        continuation.onTermination = { [weak self] _ in
            ticker.cancel()
            _ = self?.streams.withLock { $0.open.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every stream and refuses new ones: the HTTP server can then drain at shutdown.
    func close() {
        let open = streams.withLock { state in
            state.closed = true
            return Array(state.open.values)
        }
        for continuation in open { continuation.finish() }
    }
}
