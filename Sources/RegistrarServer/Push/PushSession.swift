import Logging
import NIOCore
import RegistrarCore
import RegistrarWire

/// The pushes of one connection: at most one in flight per service, only the newest pending
/// snapshot kept behind it, acks matched by requestId, and bounded retries with backoff.
///
/// Threading: confined to the connection's event loop.
final class PushSession {
    private struct InFlight {
        var requestId: String
        var content: RegistryStore.EncodedServiceInfo
        var attempt: Int
        var timer: Scheduled<Void>?
    }

    private unowned let connection: RPCConnection
    private let configuration: ServerConfiguration
    private var inFlight: [ServiceKey: InFlight] = [:]
    private var pending: [ServiceKey: RegistryStore.EncodedServiceInfo] = [:]
    private var serviceByRequestId: [String: ServiceKey] = [:]

    init(connection: RPCConnection, configuration: ServerConfiguration) {
        self.connection = connection
        self.configuration = configuration
    }

    /// Queues `content` for `service`; sends it now if nothing is in flight for that service.
    func offer(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo) {
        if let current = inFlight[service] {
            if content.revision > current.content.revision {
                pending[service] = content
            }
            return
        }
        send(service, content, attempt: 1)
    }

    func acknowledged(requestId: String, success: Bool, type: String) {
        guard let service = serviceByRequestId.removeValue(forKey: requestId), let current = inFlight[service],
              current.requestId == requestId else {
            connection.logger.debug("\(type) for unknown or stale requestId \(requestId)")
            return
        }
        current.timer?.cancel()
        if success {
            connection.runtime.counters.pushesAcked.add(1, ordering: .relaxed)
            inFlight.removeValue(forKey: service)
            if let next = pending.removeValue(forKey: service) {
                send(service, next, attempt: 1)
            }
        } else {
            connection.logger.info("push of \(service) refused by the client (\(type)); retrying")
            inFlight[service] = current
            failed(service)
        }
    }

    func cancelAll() {
        for flight in inFlight.values { flight.timer?.cancel() }
        inFlight.removeAll()
        pending.removeAll()
        serviceByRequestId.removeAll()
    }

    private func send(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo, attempt: Int) {
        let requestId = connection.runtime.requestIds.make()
        var flight = InFlight(requestId: requestId, content: content, attempt: attempt, timer: nil)
        guard connection.streamIsWritable else {
            // The client is not reading; queueing more bytes would only grow memory.
            connection.logger.info("push of \(service) deferred: the client's stream is not writable (it is not reading)")
            inFlight[service] = flight
            failed(service)
            return
        }
        let json = ServerRequestBody.notifySubscriber(requestId: requestId, serviceInfo: content.json)
        guard connection.sendOnStream(type: "NotifySubscriberRequest", json: json) else {
            inFlight.removeValue(forKey: service)
            return
        }
        connection.runtime.counters.pushesSent.add(1, ordering: .relaxed)
        serviceByRequestId[requestId] = service
        flight.timer = connection.eventLoop.assumeIsolated().scheduleTask(in: configuration.pushAckTimeout) { [weak self] in
            guard let self, self.inFlight[service]?.requestId == requestId else { return }
            self.serviceByRequestId.removeValue(forKey: requestId)
            self.connection.logger.info("push of \(service) not acked within \(self.configuration.pushAckTimeout)")
            self.failed(service)
        }
        inFlight[service] = flight
    }

    /// Retries the newest data for `service` after a backoff, up to the attempt limit.
    private func failed(_ service: ServiceKey) {
        guard let current = inFlight[service] else { return }
        guard current.attempt < configuration.pushMaximumAttempts else {
            connection.runtime.counters.pushesAbandoned.add(1, ordering: .relaxed)
            connection.logger.warning("giving up on push of \(service) after \(current.attempt) attempts; the next change pushes again")
            inFlight.removeValue(forKey: service)
            if let next = pending.removeValue(forKey: service) { send(service, next, attempt: 1) }
            return
        }
        connection.runtime.counters.pushRetries.add(1, ordering: .relaxed)
        let delay = min(configuration.pushRetryMaximumDelay.nanoseconds,
                        configuration.pushRetryDelay.nanoseconds << Int64(min(current.attempt - 1, 20)))
        let marker = "retry-\(current.requestId)"
        inFlight[service]!.requestId = marker
        inFlight[service]!.timer = connection.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay)) { [weak self] in
            guard let self, let flight = self.inFlight[service], flight.requestId == marker else { return }
            let content = self.pending.removeValue(forKey: service) ?? flight.content
            self.send(service, content, attempt: flight.attempt + 1)
        }
    }
}
