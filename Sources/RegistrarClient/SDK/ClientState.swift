import RegistrarWire

/// Everything a `RegistrarClient` remembers between calls: what it registered and subscribed
/// (replayed after every reconnect, Nacos's "redo"), the current connection, and who waits for one.
///
/// Threading: plain data; `RegistrarClient` keeps it in a `Mutex` and never awaits while holding it.
struct ClientState {
    /// A subscriber of one service: its cluster filter and its stream.
    struct Listener {
        var clusters: Set<String>
        var continuation: AsyncStream<ServiceInfo>.Continuation
    }

    var connection: NacosConnection?
    var waiters: [UInt64: CheckedContinuation<NacosConnection, any Error>] = [:]
    /// Ephemeral instances this client registered, per service (the redo data).
    var registrations: [ServiceName: [InstanceAddressKey: ServiceInstance]] = [:]
    /// Subscribed services and their listeners; a service is subscribed on the server while it
    /// has at least one listener.
    var subscriptions: [ServiceName: [UInt64: Listener]] = [:]
    /// Where a ConnectResetRequest told us to go next.
    var resetTarget: ServerAddress?
    /// Why the last connection attempt failed, for error messages while disconnected.
    var lastConnectError: String?
    var lastActivity = ContinuousClock.now
    var isShutDown = false
    private var nextID: UInt64 = 0

    mutating func makeID() -> UInt64 {
        nextID += 1
        return nextID
    }

    /// Hands a new connection to everyone waiting for one.
    mutating func publish(_ connection: NacosConnection) -> [CheckedContinuation<NacosConnection, any Error>] {
        self.connection = connection
        lastConnectError = nil
        defer { waiters = [:] }
        return Array(waiters.values)
    }

    /// What a registration call must send for `service` now: the whole set, or the instance to
    /// withdraw once the set is empty.
    enum RegistrationUpdate {
        case register([ServiceInstance])
        case deregister(ServiceInstance)
    }

    mutating func addRegistration(_ instances: [ServiceInstance], to service: ServiceName) -> RegistrationUpdate {
        for instance in instances { registrations[service, default: [:]][instance.address] = instance }
        return .register(registered(service))
    }

    mutating func removeRegistration(_ instance: ServiceInstance, from service: ServiceName) -> RegistrationUpdate {
        registrations[service]?[instance.address] = nil
        let remaining = registered(service)
        if remaining.isEmpty {
            registrations[service] = nil
            return .deregister(instance)
        }
        return .register(remaining)
    }

    func registered(_ service: ServiceName) -> [ServiceInstance] {
        (registrations[service] ?? [:]).values.sorted {
            ($0.ip, $0.port, $0.clusterName) < ($1.ip, $1.port, $1.clusterName)
        }
    }
}
