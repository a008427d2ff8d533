import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrarTransport
import RegistrarWire

/// The connection's life: connect, redo, serve the stream, probe when idle, reconnect.
extension RegistrarClient {
    /// Runs until shutdown: keeps one connection up, failing over along the server list.
    func superviseConnection() async {
        var serverIndex = 0
        var failures = 0
        while !Task.isCancelled, !state.withLock({ $0.isShutDown }) {
            let target =
                state.withLock { state in
                    defer { state.resetTarget = nil }
                    return state.resetTarget
                } ?? configuration.servers[serverIndex % configuration.servers.count]
            let connection: NacosConnection
            do {
                connection = try await NacosConnection.connect(
                    host: target.host, port: target.port + configuration.grpcPortOffset, group: eventLoopGroup,
                    clientVersion: configuration.clientVersion, tenant: configuration.namespaceID,
                    timeout: TimeAmount(configuration.connectTimeout), tls: grpcTLS
                )
            } catch {
                failures += 1
                serverIndex += 1
                let delay = backoff(afterFailures: failures)
                let grpcAddress = ServerAddress(host: target.host, port: target.port + configuration.grpcPortOffset)
                state.withLock { $0.lastConnectError = "gRPC \(grpcAddress): \(Self.describe(connectError: error))" }
                // First failure loud, then about once a minute: a dead server must not flood the log.
                let level: Logger.Level = failures == 1 || failures % 30 == 0 ? .warning : .debug
                logger.log(
                    level: level, "cannot connect; retrying",
                    metadata: [
                        "server": "\(target)", "error": "\(Self.describe(connectError: error))",
                        "attempt": "\(failures)", "retryInMs": "\(delay.milliseconds)",
                    ])
                try? await Task.sleep(for: delay)
                continue
            }
            if failures > 0 {
                logger.info("reconnected", metadata: ["server": "\(target)", "afterAttempts": "\(failures)"])
            }
            failures = 0
            if await !serve(connection, server: target) {
                // Redo went unanswered: back off before trying again, as after a failed connect.
                failures = 1
                try? await Task.sleep(for: backoff(afterFailures: 2))
            }
            serverIndex += 1
        }
    }

    /// Serves one connection until it ends: redo first, then hand it to waiting calls. Returns
    /// false if the redo went unanswered.
    private func serve(_ connection: NacosConnection, server: ServerAddress) async -> Bool {
        logger.info("connected", metadata: ["server": "\(server)", "connectionId": "\(connection.connectionId)"])
        var redone = true
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.handleServerRequests(on: connection) }
            tasks.addTask { await self.probeWhileIdle(connection) }
            guard await redo(on: connection) else {
                await connection.close()
                await tasks.next()
                tasks.cancelAll()
                redone = false
                return
            }
            let waiters = state.withLock { state in
                state.isShutDown ? [] : state.publish(connection)
            }
            for waiter in waiters { waiter.resume(returning: connection) }
            await tasks.next()
            tasks.cancelAll()
        }
        state.withLock { state in
            if state.connection === connection { state.connection = nil }
        }
        await connection.close()
        if !state.withLock({ $0.isShutDown }) {
            logger.warning(
                "connection lost; reconnecting",
                metadata: ["server": "\(server)", "connectionId": "\(connection.connectionId)"])
        }
        return redone
    }

    /// Replays every registration and subscription on a fresh connection. A step that fails
    /// for want of an answer (a server still busy absorbing a reconnect storm) is retried a few
    /// times; if it still fails the connection is dropped, so the next one redoes everything.
    /// A step the server refuses is logged and not retried: it would be refused again.
    private func redo(on connection: NacosConnection) async -> Bool {
        let (registrations, subscriptions) = state.withLock { state in
            (Array(state.registrations.keys), Array(state.subscriptions.keys))
        }
        var steps: [RedoStep] = registrations.map { .register($0) } + subscriptions.map { .subscribe($0) }
        guard !steps.isEmpty else { return true }
        for round in 0..<Self.redoRounds {
            if round > 0 { try? await Task.sleep(for: .milliseconds(200 * round)) }
            var unanswered: [RedoStep] = []
            for step in steps {
                do {
                    try await perform(step, on: connection)
                } catch .unavailable(let reason) {
                    logger.debug("redo step unanswered", metadata: ["step": "\(step)", "reason": "\(reason)"])
                    unanswered.append(step)
                } catch {
                    logger.error("redo step refused by the server", metadata: ["step": "\(step)", "error": "\(error)"])
                }
            }
            steps = unanswered
            if steps.isEmpty { break }
        }
        guard steps.isEmpty else {
            logger.warning("redo incomplete; reconnecting", metadata: ["unanswered": "\(steps.count)"])
            return false
        }
        logger.info(
            "redo done",
            metadata: ["registrations": "\(registrations.count)", "subscriptions": "\(subscriptions.count)"])
        return true
    }

    static let redoRounds = 3

    private enum RedoStep: CustomStringConvertible {
        case register(ServiceName)
        case subscribe(ServiceName)

        var description: String {
            switch self {
            case .register(let service): "register the instances of \(service)"
            case .subscribe(let service): "subscribe \(service)"
            }
        }
    }

    private func perform(_ step: RedoStep, on connection: NacosConnection) async throws(RegistrarClientError) {
        switch step {
        case .register(let reference):
            // Registered meanwhile by a caller? Send what the state holds now.
            let current = state.withLock { $0.registered(reference) }
            guard !current.isEmpty else { return }
            try await send(.register(current), for: reference, on: connection)
        case .subscribe(let reference):
            guard state.withLock({ $0.subscriptions[reference] != nil }) else { return }
            let response = try await request(
                on: connection, "SubscribeServiceRequest", subscribeRequest(reference, true),
                expecting: "SubscribeServiceResponse")
            try apply(response, for: reference)
        }
    }

    /// Reads the server's requests (pushes, resets) until the stream closes. Acks are sent by
    /// `NacosConnection` itself.
    private func handleServerRequests(on connection: NacosConnection) async {
        for await request in connection.serverRequests {
            state.withLock { $0.lastActivity = .now }
            switch request.message.type {
            case "NotifySubscriberRequest":
                guard let message = try? JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json),
                    let body = message.serviceInfo, let name = body.name
                else {
                    logger.warning("unreadable push ignored")
                    continue
                }
                // 2.x servers send the bare name beside groupName; 1.x style is `group@@name`.
                let parts = name.components(separatedBy: "@@")
                let reference = parts.count == 2 ? key(parts[1], parts[0]) : key(name, body.groupName)
                apply(ServiceInfo(body, service: reference), for: reference)
            case "ConnectResetRequest":
                let target = try? JSONDecoder().decode(ConnectResetFields.self, from: request.message.json)
                let address = target.flatMap { fields in
                    fields.serverIp.flatMap { ip in
                        fields.serverPort.flatMap(Int.init).map { ServerAddress(host: ip, port: $0) }
                    }
                }
                logger.notice(
                    "server asked to reconnect", metadata: ["to": "\(address.map(\.description) ?? "next server")"])
                state.withLock { $0.resetTarget = address }
                await connection.close()
            default:
                break
            }
        }
    }

    /// Sends a HealthCheckRequest whenever the connection was quiet for a whole interval; a
    /// failed probe closes the connection, which makes the supervisor reconnect.
    private func probeWhileIdle(_ connection: NacosConnection) async {
        let interval = configuration.healthCheckInterval
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            guard ContinuousClock.now - state.withLock({ $0.lastActivity }) >= interval else { continue }
            do {
                _ = try await request(
                    on: connection, "HealthCheckRequest", HealthCheckBody(), expecting: "HealthCheckResponse")
            } catch {
                logger.warning(
                    "health check failed; reconnecting",
                    metadata: ["connectionId": "\(connection.connectionId)", "error": "\(error)"])
                await connection.close()
                return
            }
        }
    }

    // MARK: Calls

    /// Sends a request on the current connection, waiting for one if needed, and retrying on a
    /// fresh connection if the current one breaks, all within `requestTimeout`.
    func call<Body: Encodable>(_ type: String, _ body: Body, expecting expected: String)
        async throws(RegistrarClientError) -> WireMessage
    {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        while true {
            let connection = try await currentConnection(before: deadline)
            do {
                return try await request(on: connection, type, body, expecting: expected, deadline: deadline)
            } catch .unavailable(let reason) {
                guard ContinuousClock.now < deadline else { throw .unavailable(reason) }
                // The connection broke under us: drop it so the supervisor replaces it, then
                // retry. A connection that is merely slow stays.
                if !connection.transport.channel.isActive {
                    state.withLock { state in
                        if state.connection === connection { state.connection = nil }
                    }
                } else {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
    }

    /// One request on a given connection; maps transport failures to `unavailable` and error
    /// responses to `server`.
    func request<Body: Encodable>(
        on connection: NacosConnection, _ type: String, _ body: Body, expecting expected: String,
        deadline: ContinuousClock.Instant? = nil, retriedLogin: Bool = false
    ) async throws(RegistrarClientError) -> WireMessage {
        let headers = try await tokens.headers()
        let timeout = (deadline ?? ContinuousClock.now + configuration.requestTimeout) - ContinuousClock.now
        let response: WireMessage
        do {
            response = try await connection.request(
                type, body, headers: headers, timeout: TimeAmount(max(timeout, .milliseconds(1))))
        } catch let error as WireError {
            throw .badResponse("\(error)")
        } catch {
            throw .unavailable("\(type) failed: \(error)")
        }
        state.withLock { $0.lastActivity = .now }
        let fields = try? JSONDecoder().decode(ResponseFields.self, from: response.json)
        if response.type == "ErrorResponse" || !(fields?.isSuccess ?? false) {
            let code = fields?.errorCode.flatMap { $0 == 0 ? nil : $0 } ?? fields?.resultCode ?? 500
            // 301: the server no longer knows this connection; Nacos clients reconnect.
            if code == 301 { throw .unavailable("the server dropped the connection (301)") }
            // 403: the token was refused (expired, or another server's); log in again, once.
            if code == 403, tokens.hasCredentials, !retriedLogin {
                tokens.invalidate()
                return try await request(
                    on: connection, type, body, expecting: expected, deadline: deadline, retriedLogin: true)
            }
            throw .server(code: code, message: fields?.message ?? "no message")
        }
        guard response.type == expected else { throw .badResponse("expected \(expected), got \(response.type)") }
        return response
    }

    /// The current connection, or the next one to come up before `deadline`.
    private func currentConnection(before deadline: ContinuousClock.Instant) async throws(RegistrarClientError)
        -> NacosConnection
    {
        let id = state.withLock { $0.makeID() }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let ready: Result<NacosConnection, RegistrarClientError>? = state.withLock { state in
                    if state.isShutDown { return .failure(.shutDown) }
                    if let connection = state.connection { return .success(connection) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { return continuation.resume(with: ready) }
                Task { [weak self] in
                    try? await Task.sleep(until: deadline)
                    guard let self else { return }
                    let (waiter, reason) = self.state.withLock {
                        ($0.waiters.removeValue(forKey: id), $0.lastConnectError)
                    }
                    let servers = self.configuration.servers.map(\.description).joined(separator: ",")
                    waiter?.resume(
                        throwing: RegistrarClientError.unavailable(
                            "no connection to \(servers) within \(self.configuration.requestTimeout)"
                                + (reason.map { " (last error: \($0))" } ?? "")))
                }
            }
        } catch let error as RegistrarClientError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    // MARK: Registration and ServiceInfo plumbing

    func send(
        _ update: ClientState.RegistrationUpdate, for reference: ServiceName, on connection: NacosConnection? = nil
    ) async throws(RegistrarClientError) {
        let namespace = configuration.namespaceID
        switch update {
        case .register(let instances) where instances.count == 1:
            try await dispatch(
                on: connection, "InstanceRequest",
                InstanceRequest(
                    namespace: namespace, serviceName: reference.name, groupName: reference.group,
                    type: "registerInstance", instance: instances[0].wireBody), expecting: "InstanceResponse")
        case .register(let instances):
            try await dispatch(
                on: connection, "BatchInstanceRequest",
                BatchInstanceRequest(
                    namespace: namespace, serviceName: reference.name, groupName: reference.group,
                    type: "batchRegisterInstance", instances: instances.map(\.wireBody)),
                expecting: "BatchInstanceResponse")
        case .deregister(let instance):
            try await dispatch(
                on: connection, "InstanceRequest",
                InstanceRequest(
                    namespace: namespace, serviceName: reference.name, groupName: reference.group,
                    type: "deregisterInstance", instance: instance.wireBody), expecting: "InstanceResponse")
        }
    }

    func sendPersistent(_ instance: ServiceInstance, _ reference: ServiceName, type: String)
        async throws(RegistrarClientError)
    {
        let request = InstanceRequest(
            namespace: configuration.namespaceID, serviceName: reference.name, groupName: reference.group, type: type,
            instance: instance.wireBody)
        try await dispatch(on: nil, "PersistentInstanceRequest", request, expecting: "InstanceResponse")
    }

    private func dispatch<Body: Encodable>(
        on connection: NacosConnection?, _ type: String, _ body: Body, expecting: String
    ) async throws(RegistrarClientError) {
        if let connection {
            _ = try await request(on: connection, type, body, expecting: expecting)
        } else {
            _ = try await call(type, body, expecting: expecting)
        }
    }

    /// Reads the ServiceInfo of a query or subscribe response and caches it.
    @discardableResult
    func apply(_ response: WireMessage, for reference: ServiceName) throws(RegistrarClientError) -> (
        info: ServiceInfo, notified: Bool
    ) {
        guard let message = try? JSONDecoder().decode(ServiceInfoMessage.self, from: response.json),
            let body = message.serviceInfo
        else {
            throw .badResponse("\(response.type) carries no readable serviceInfo")
        }
        let info = ServiceInfo(body, service: reference)
        return (info, apply(info, for: reference, replacingNewer: true))
    }

    /// Caches `info` unless it is older than what we have, and tells the service's listeners if
    /// its instances changed. Returns whether they were told.
    @discardableResult
    /// A query or subscribe answer replaces even newer-stamped data: after a failover the new
    /// server's clock may be behind, and its answer is still the truth now.
    func apply(_ info: ServiceInfo, for reference: ServiceName, replacingNewer: Bool = false) -> Bool {
        let (previous, stored) = cache.put(info, for: reference, replacingNewer: replacingNewer)
        guard stored,
            previous == nil || previous?.instanceSet != info.instanceSet
                || previous?.reachProtectionThreshold != info.reachProtectionThreshold
        else { return false }
        let listeners = state.withLock { Array(($0.subscriptions[reference] ?? [:]).values) }
        for listener in listeners { listener.continuation.yield(info.filtered(clusters: listener.clusters)) }
        return true
    }

    /// NIO's connect errors list every address tried; the first cause is what a person needs.
    static func describe(connectError error: any Error) -> String {
        var cause: any Error = error
        if let connection = error as? NIOConnectionError, let first = connection.connectionErrors.first {
            cause = first.error
        }
        if let io = cause as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(cause)"
    }

    private func backoff(afterFailures failures: Int) -> Duration {
        let exponent = min(failures - 1, 16)
        let ceiling = min(configuration.initialBackoff * (1 << exponent), configuration.maximumBackoff)
        // Jitter spreads a fleet's reconnects after a server restart.
        return ceiling * Double.random(in: 0.5...1.0)
    }
}

private struct HealthCheckBody: Encodable {
    var headers: [String: String] = [:]
    var module = "internal"
}

private struct ConnectResetFields: Decodable {
    var serverIp: String?
    var serverPort: String?
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
