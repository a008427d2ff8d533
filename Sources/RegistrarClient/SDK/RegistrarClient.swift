import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RegistrarWire
import Synchronization

/// A service-discovery client for Registrar and any Nacos 2.x server, over one long-lived gRPC
/// connection.
///
/// The client connects in the background as soon as it is created. It reconnects on its own,
/// with jittered backoff, failing over along its server list. After every reconnect it redoes
/// its registrations and subscriptions at once. Calls made while no server is reachable wait
/// up to `requestTimeout` for one and then throw `RegistrarClientError.unavailable`.
///
/// Threading: thread-safe; every method may be called from any task. Call `shutdown()` when done.
public final class RegistrarClient: Sendable {
    public static let defaultGroup = NacosNaming.defaultGroup

    let configuration: Configuration
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    let state = Mutex(ClientState())
    let cache: ServiceInfoCache
    let tokens: AccessTokens
    let grpcTLS: NIOSSLContext?
    private let supervisor = Mutex<Task<Void, Never>?>(nil)

    /// Creates the client and starts connecting. Fails only for an empty server list, a username
    /// without a password, or a TLS configuration that cannot be set up.
    public init(
        configuration: Configuration,
        logger: Logger = Logger(label: "registrar.client"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(RegistrarClientError) {
        guard !configuration.servers.isEmpty else { throw .invalidArgument("the server list is empty") }
        if let username = configuration.username, configuration.password == nil {
            throw .invalidArgument("username '\(username)' is set without a password")
        }
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.cache = ServiceInfoCache(directory: configuration.cacheDirectory, namespace: configuration.namespaceID)
        self.tokens = AccessTokens(configuration: configuration)
        self.grpcTLS = try configuration.grpcTLSContext()
        supervisor.withLock { $0 = Task { [self] in await self.superviseConnection() } }
    }

    // MARK: Registration

    /// Registers `instance` as a provider of `service`. It stays registered while this client
    /// lives: after a reconnect it is registered again. Registering another ip:port (or cluster)
    /// for the same service adds to this client's instances of it (sent as one batch).
    ///
    /// If the call throws `unavailable`, the registration is still remembered and sent once a
    /// server is reachable; `deregisterInstance` forgets it.
    public func registerInstance(_ instance: ServiceInstance, service: String, group: String = defaultGroup)
        async throws(RegistrarClientError)
    {
        try await registerInstances([instance], service: service, group: group)
    }

    /// Registers several instances of `service` at once (a `BatchInstanceRequest`).
    public func registerInstances(_ instances: [ServiceInstance], service: String, group: String = defaultGroup)
        async throws(RegistrarClientError)
    {
        let reference = try check(service, group)
        guard !instances.isEmpty else { throw .invalidArgument("no instances to register") }
        for instance in instances { try Self.check(instance) }
        if instances.contains(where: { !$0.ephemeral }) {
            // Persistent instances belong to the server, not to this connection: no redo.
            guard instances.allSatisfy({ !$0.ephemeral }) else {
                throw .invalidArgument("a batch must not mix ephemeral and persistent instances")
            }
            for instance in instances { try await sendPersistent(instance, reference, type: "registerInstance") }
            return
        }
        let (previous, update) = state.withLock {
            ($0.registrations[reference], $0.addRegistration(instances, to: reference))
        }
        do {
            try await send(update, for: reference)
        } catch .server(let code, let message) {
            // Refused (bad metadata, say): forget it, or every later registration and redo of
            // this service would carry it and be refused too. Unanswered ones stay for the redo.
            state.withLock { $0.registrations[reference] = previous }
            throw .server(code: code, message: message)
        }
    }

    /// Withdraws `instance` (matched by ip, port and cluster) from `service`.
    public func deregisterInstance(_ instance: ServiceInstance, service: String, group: String = defaultGroup)
        async throws(RegistrarClientError)
    {
        let reference = try check(service, group)
        if !instance.ephemeral { return try await sendPersistent(instance, reference, type: "deregisterInstance") }
        let update = state.withLock { $0.removeRegistration(instance, from: reference) }
        try await send(update, for: reference)
    }

    /// The instances this client has registered for `service`.
    public func registeredInstances(service: String, group: String = defaultGroup) -> [ServiceInstance] {
        state.withLock { $0.registered(key(service, group)) }
    }

    // MARK: Discovery

    /// All instances of `service` (optionally only `clusters`, only healthy ones). A subscribed
    /// service is answered from the subscription's data. Otherwise the server is asked; if none is
    /// reachable, the last known data (memory or disk cache) is returned, and only without any
    /// does the call throw.
    public func allInstances(
        service: String, group: String = defaultGroup, clusters: [String] = [], healthyOnly: Bool = false
    ) async throws(RegistrarClientError) -> [ServiceInstance] {
        let info = try await serviceInfo(service: service, group: group).filtered(clusters: Set(clusters))
        return healthyOnly ? info.instances.filter(\.isSelectable) : info.instances
    }

    /// The current ServiceInfo of `service`, with the same sources as `allInstances`.
    public func serviceInfo(service: String, group: String = defaultGroup) async throws(RegistrarClientError)
        -> ServiceInfo
    {
        let reference = try check(service, group)
        if state.withLock({ $0.subscriptions[reference] != nil }), let cached = cache.get(reference) { return cached }
        do {
            let request = ServiceQueryRequest(
                namespace: configuration.namespaceID, serviceName: reference.name, groupName: reference.group,
                cluster: "", healthyOnly: false)
            let response = try await call("ServiceQueryRequest", request, expecting: "QueryServiceResponse")
            return try apply(response, for: reference).info
        } catch .unavailable(let reason) {
            guard let cached = cache.get(reference) else { throw .unavailable(reason) }
            logger.notice(
                "serving cached instances: no server reachable",
                metadata: ["service": "\(reference)", "reason": "\(reason)"])
            return cached
        }
    }

    /// One healthy, enabled instance of `service`, chosen at random in proportion to weight.
    public func selectHealthy(service: String, group: String = defaultGroup, clusters: [String] = [])
        async throws(RegistrarClientError) -> ServiceInstance
    {
        var generator = SystemRandomNumberGenerator()
        let candidates = try await allInstances(service: service, group: group, clusters: clusters, healthyOnly: true)
        guard let chosen = WeightedChoice.pick(from: candidates, using: &generator) else {
            throw .noHealthyInstance(key(service, group).groupedName)
        }
        return chosen
    }

    /// A page of the service names in `group` of the client's namespace.
    public func listServices(group: String = defaultGroup, pageNo: Int = 1, pageSize: Int = 100)
        async throws(RegistrarClientError) -> ServiceList
    {
        guard pageNo >= 1, (1...1000).contains(pageSize) else {
            throw .invalidArgument("pageNo must be ≥ 1 and pageSize 1-1000")
        }
        let request = ServiceListRequest(
            namespace: configuration.namespaceID, groupName: group, pageNo: pageNo, pageSize: pageSize)
        let response = try await call("ServiceListRequest", request, expecting: "ServiceListResponse")
        guard let body = try? JSONDecoder().decode(ServiceListResponseBody.self, from: response.json) else {
            throw .badResponse("unreadable ServiceListResponse")
        }
        return ServiceList(count: body.count ?? 0, names: body.serviceNames ?? [])
    }

    // MARK: Subscriptions

    /// Streams `service`'s instances: the current state first, then every change (an instance
    /// added, removed, or changed), for as long as the stream is consumed. Ending the iteration
    /// (or cancelling its task) unsubscribes. After a reconnect the subscription resumes on its
    /// own, and a change missed meanwhile arrives then. The stream finishes at `shutdown()`.
    /// If the server refuses the subscription this throws; streams of the same service that
    /// were opened while that request was on its way end then too.
    public func subscribe(service: String, group: String = defaultGroup, clusters: [String] = [])
        async throws(RegistrarClientError) -> AsyncStream<ServiceInfo>
    {
        let reference = try check(service, group)
        let (stream, continuation) = AsyncStream.makeStream(of: ServiceInfo.self, bufferingPolicy: .bufferingNewest(64))
        let filter = Set(clusters)
        let (id, isFirst, isShutDown) = state.withLock { state in
            let id = state.makeID()
            let isFirst = state.subscriptions[reference] == nil
            if !state.isShutDown {
                state.subscriptions[reference, default: [:]][id] = .init(clusters: filter, continuation: continuation)
            }
            return (id, isFirst, state.isShutDown)
        }
        guard !isShutDown else { throw .shutDown }
        continuation.onTermination = { [weak self] _ in self?.removeListener(id, of: reference) }
        if isFirst {
            do {
                let response = try await call(
                    "SubscribeServiceRequest", subscribeRequest(reference, true), expecting: "SubscribeServiceResponse")
                let (info, notified) = try apply(response, for: reference)
                // Unchanged from the cache: the listeners were not told, but a new one needs a first value.
                if !notified { continuation.yield((cache.get(reference) ?? info).filtered(clusters: filter)) }
            } catch {
                // Listeners that joined meanwhile counted on this request: the server does not
                // have the subscription, so their streams end too rather than wait forever.
                let listeners = state.withLock { $0.subscriptions.removeValue(forKey: reference) ?? [:] }
                for listener in listeners.values { listener.continuation.finish() }
                continuation.finish()
                throw error
            }
        } else if let cached = cache.get(reference) {
            continuation.yield(cached.filtered(clusters: filter))
        }
        return stream
    }

    // MARK: Lifecycle

    /// Stops the client: finishes every subscription stream, fails waiting calls, and closes the
    /// connection, which makes the server withdraw this client's ephemeral instances at once.
    public func shutdown() async {
        let (connection, waiters, listeners) = state.withLock { state in
            state.isShutDown = true
            defer { state.waiters = [:]; state.subscriptions = [:]; state.connection = nil }
            return (state.connection, Array(state.waiters.values), state.subscriptions.values.flatMap(\.values))
        }
        for waiter in waiters { waiter.resume(throwing: RegistrarClientError.shutDown) }
        for listener in listeners { listener.continuation.finish() }
        let task = supervisor.withLock { $0 }
        task?.cancel()
        await connection?.close()
        await task?.value
    }

    // MARK: Helpers

    /// The key of `service` in this client's namespace (an empty group means DEFAULT_GROUP).
    func key(_ service: String, _ group: String?) -> ServiceName {
        ServiceName(namespace: configuration.namespaceID, group: group, name: service)
    }

    func check(_ service: String, _ group: String) throws(RegistrarClientError) -> ServiceName {
        guard !service.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .invalidArgument("the service name is empty")
        }
        guard !service.contains("@@"), !group.contains("@@") else {
            throw .invalidArgument("service and group names must not contain '@@'")
        }
        return key(service, group)
    }

    static func check(_ instance: ServiceInstance) throws(RegistrarClientError) {
        guard !instance.ip.isEmpty else { throw .invalidArgument("the instance has no ip") }
        guard (0...65535).contains(instance.port) else {
            throw .invalidArgument("port \(instance.port) is not in 0-65535")
        }
        guard instance.weight >= 0, instance.weight.isFinite else {
            throw .invalidArgument("weight must be a finite number ≥ 0")
        }
    }

    func subscribeRequest(_ reference: ServiceName, _ subscribe: Bool) -> SubscribeServiceRequest {
        SubscribeServiceRequest(
            namespace: configuration.namespaceID, serviceName: reference.name, groupName: reference.group,
            subscribe: subscribe)
    }

    private func removeListener(_ id: UInt64, of reference: ServiceName) {
        let unsubscribe = state.withLock { state -> Bool in
            guard state.subscriptions[reference]?.removeValue(forKey: id) != nil else { return false }
            guard state.subscriptions[reference]?.isEmpty ?? false else { return false }
            state.subscriptions[reference] = nil
            return !state.isShutDown
        }
        guard unsubscribe else { return }
        Task { [self] in
            do {
                _ = try await call(
                    "SubscribeServiceRequest", subscribeRequest(reference, false), expecting: "SubscribeServiceResponse"
                )
            } catch {
                // The server drops the subscription with the connection anyway.
                logger.debug("unsubscribe failed", metadata: ["service": "\(reference)", "error": "\(error)"])
            }
        }
    }
}

/// Weighted random choice, as Nacos's `selectOneHealthyInstance` does it.
enum WeightedChoice {
    static func pick<G: RandomNumberGenerator>(from instances: [ServiceInstance], using generator: inout G)
        -> ServiceInstance?
    {
        let candidates = instances.filter(\.isSelectable)
        let total = candidates.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return nil }
        var point = Double.random(in: 0..<total, using: &generator)
        for candidate in candidates {
            if point < candidate.weight { return candidate }
            point -= candidate.weight
        }
        return candidates.last
    }
}
