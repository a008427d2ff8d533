import NIOCore
import RegistrarCore
import Synchronization

/// Turns service changes into pushes to the services' subscribers.
///
/// The first change to a quiet service is pushed at once (Nacos waits a fixed 500 ms). Further
/// changes within `mergeWindow` after a push are merged into one push at the end of the window,
/// so a burst costs one encode and one push per subscriber, not one per change.
///
/// Threading: thread-safe. Window timers run on `timerLoop`; each sink hops to its own loop.
final class PushScheduler: ServiceChangeListener {
    private let store: RegistryStore
    private let sinks: any PushSinkDirectory
    /// v1 UDP push; nil when its socket could not be bound (v1 clients then poll).
    private let udp: (any DatagramPush)?
    private let timerLoop: any EventLoop
    private let mergeWindow: TimeAmount
    /// Services inside a merge window, and when the first change since its push arrived (nil:
    /// none yet).
    private let windows = Mutex<[ServiceKey: ContinuousClock.Instant?]>([:])

    init(
        store: RegistryStore, sinks: any PushSinkDirectory, udp: (any DatagramPush)?,
        timerLoop: any EventLoop, mergeWindow: TimeAmount
    ) {
        self.store = store
        self.sinks = sinks
        self.udp = udp
        self.timerLoop = timerLoop
        self.mergeWindow = mergeWindow
    }

    func servicesChanged(_ services: [ServiceKey]) {
        let now = ContinuousClock.now
        for service in services {
            let pushNow = windows.withLock { windows -> Bool in
                if let pending = windows[service] {
                    windows[service] = pending ?? now
                    return false
                }
                windows[service] = .some(nil)
                return true
            }
            if pushNow {
                deliver(service, changedAt: now)
                scheduleWindowEnd(service)
            }
        }
    }

    private func scheduleWindowEnd(_ service: ServiceKey) {
        timerLoop.scheduleTask(in: mergeWindow) { [self] in
            let changedAt = windows.withLock { windows -> ContinuousClock.Instant? in
                if let pending = windows[service], let changedAt = pending {
                    windows[service] = .some(nil)
                    return changedAt
                }
                windows.removeValue(forKey: service)
                return nil
            }
            if let changedAt {
                deliver(service, changedAt: changedAt)
                scheduleWindowEnd(service)
            }
        }
    }

    /// Sends the current data of `service` to one v1 subscriber's UDP address.
    func pushOverUDP(to client: ClientID, service: ServiceKey, clusters: String) {
        guard let udp else { return }
        let encoded = store.encodedServiceInfo(service, filter: SnapshotFilter(clusters: clusters), style: .v1)
        udp.push(to: client, service: service, serviceInfo: encoded.json)
    }

    /// Sends the service's current data to each of its subscribers (over their gRPC stream, or
    /// UDP for v1 subscribers), encoded once per filter and style.
    private func deliver(_ service: ServiceKey, changedAt: ContinuousClock.Instant) {
        let subscribers = store.read { $0.subscribers(of: service) }
        guard !subscribers.isEmpty else { return }
        struct Key: Hashable {
            var clusters: String
            var style: ServiceInfoStyle
        }
        var encoded: [Key: RegistryStore.EncodedServiceInfo] = [:]
        func content(_ clusters: String, _ style: ServiceInfoStyle) -> RegistryStore.EncodedServiceInfo {
            let key = Key(clusters: clusters, style: style)
            if let cached = encoded[key] { return cached }
            var fresh = store.encodedServiceInfo(service, filter: SnapshotFilter(clusters: clusters), style: style)
            fresh.changedAt = changedAt
            encoded[key] = fresh
            return fresh
        }
        for (client, clusters) in subscribers {
            if let sink = sinks.pushSink(for: client) {
                sink.offerPush(service, content(clusters, .grpc))
            } else if let udp, IPPortClientID.parse(client) != nil {
                udp.push(to: client, service: service, serviceInfo: content(clusters, .v1).json)
            }
        }
    }
}
