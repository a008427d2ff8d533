import RegistrarCore

/// Something that acts on changed services: the push scheduler today (a console or fuzzy watch
/// would be another).
protocol ServiceChangeListener: Sendable {
    func servicesChanged(_ services: [ServiceKey])
}

/// Where every mutation reports the services it changed, from either front, the monitors, the
/// health checker or a peer: it drops encodings of services that are gone, then tells each
/// listener. Fronts never call the push machinery themselves.
///
/// Threading: thread-safe; listeners are called on the caller's thread.
final class ChangeNotifier: Sendable {
    private let store: RegistryStore
    private let listeners: [any ServiceChangeListener]

    init(store: RegistryStore, listeners: [any ServiceChangeListener]) {
        self.store = store
        self.listeners = listeners
    }

    func servicesChanged(_ services: [ServiceKey]) {
        guard !services.isEmpty else { return }
        store.forget(services)
        for listener in listeners { listener.servicesChanged(services) }
    }
}
