import NIOCore
import RegistrarCore
import Synchronization

/// Turns service changes into pushes to the services' subscribers.
///
/// The first change to a quiet service is pushed at once (Nacos waits a fixed 500 ms). Further
/// changes within `mergeWindow` after a push are merged into one push at the end of the window,
/// so a burst costs one encode and one push per subscriber, not one per change.
///
/// Threading: thread-safe. Window timers run on `timerLoop`; deliveries hop to each
/// subscriber's connection loop.
final class PushScheduler: Sendable {
    private let store: RegistryStore
    private let connections: ConnectionTable
    private let timerLoop: EventLoop
    private let mergeWindow: TimeAmount
    /// Services inside a merge window, and whether a change arrived during it.
    private let windows = Mutex<[ServiceKey: Bool]>([:])

    init(store: RegistryStore, connections: ConnectionTable, timerLoop: EventLoop, mergeWindow: TimeAmount) {
        self.store = store
        self.connections = connections
        self.timerLoop = timerLoop
        self.mergeWindow = mergeWindow
    }

    func servicesChanged(_ services: [ServiceKey]) {
        for service in services {
            let pushNow = windows.withLock { windows -> Bool in
                if windows[service] != nil {
                    windows[service] = true
                    return false
                }
                windows[service] = false
                return true
            }
            if pushNow {
                deliver(service)
                scheduleWindowEnd(service)
            }
        }
    }

    private func scheduleWindowEnd(_ service: ServiceKey) {
        timerLoop.scheduleTask(in: mergeWindow) { [self] in
            let dirty = windows.withLock { windows -> Bool in
                if windows[service] == true {
                    windows[service] = false
                    return true
                }
                windows.removeValue(forKey: service)
                return false
            }
            if dirty {
                deliver(service)
                scheduleWindowEnd(service)
            }
        }
    }

    /// Sends the service's current data to each of its subscribers, encoded once per filter.
    private func deliver(_ service: ServiceKey) {
        let subscribers = store.read { $0.subscribers(of: service) }
        guard !subscribers.isEmpty else { return }
        var encodedByClusters: [String: RegistryStore.EncodedServiceInfo] = [:]
        for (client, clusters) in subscribers {
            guard let connection = connections.connection(client) else { continue }
            let content: RegistryStore.EncodedServiceInfo
            if let cached = encodedByClusters[clusters] {
                content = cached
            } else {
                content = store.encodedServiceInfo(service, filter: SnapshotFilter(clusters: clusters))
                encodedByClusters[clusters] = content
            }
            connection.offerPush(service, content)
        }
    }
}
