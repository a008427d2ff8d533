import Logging
import NIOCore
import RegistrarCore
import RegistrarWire

/// The stream a push session writes to: an SDK connection's bi-stream.
///
/// Threading: used only on the session's event loop.
protocol PushStream: AnyObject {
    /// False while the client is not reading (HTTP/2 flow control has closed the window).
    var isWritable: Bool { get }
    /// Writes one server request; false if it could not be written (no usable stream).
    func send(type: String, json: [UInt8]) -> Bool
    var logger: Logger { get }
}

/// How pushes are acknowledged and retried.
struct PushSettings: Sendable {
    /// How long a push may wait for its ack before it is retried.
    var ackTimeout: TimeAmount
    /// Attempts per push before it is abandoned (the next change pushes again).
    var maximumAttempts: Int
    /// First retry delay; it doubles per attempt, up to `retryMaximumDelay`.
    var retryDelay: TimeAmount
    var retryMaximumDelay: TimeAmount
}

/// The pushes of one connection: at most one in flight per service, only the newest pending
/// snapshot kept behind it, acks matched by requestId, and bounded retries with backoff.
///
/// Threading: confined to `eventLoop`, the connection's loop (asserted in debug builds).
final class PushSession {
    private struct InFlight {
        var requestId: String
        var content: RegistryStore.EncodedServiceInfo
        var attempt: Int
        var timer: Scheduled<Void>?
    }

    /// The stream owns the session, so the session does not keep it alive.
    private unowned let stream: any PushStream
    private let eventLoop: any EventLoop
    private let settings: PushSettings
    private let requestIds: RequestIdGenerator
    private let counters: PushCounters
    private var inFlight: [ServiceKey: InFlight] = [:]
    private var pending: [ServiceKey: RegistryStore.EncodedServiceInfo] = [:]
    private var serviceByRequestId: [String: ServiceKey] = [:]
    /// The newest revision of each subscribed service the client has (a subscribe answer or an
    /// acked push): nothing at or below it is pushed again.
    private var delivered: [ServiceKey: UInt64] = [:]

    init(
        stream: any PushStream, eventLoop: any EventLoop, settings: PushSettings,
        requestIds: RequestIdGenerator, counters: PushCounters
    ) {
        self.stream = stream
        self.eventLoop = eventLoop
        self.settings = settings
        self.requestIds = requestIds
        self.counters = counters
    }

    /// Queues `content` for `service`; sends it now if nothing is in flight for that service.
    /// Content the client already has is dropped.
    func offer(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo) {
        eventLoop.assertInEventLoop()
        if let known = delivered[service], content.revision <= known {
            counters.skipped.add(1)
            return
        }
        if let current = inFlight[service] {
            if content.revision > current.content.revision {
                pending[service] = content
            }
            return
        }
        send(service, content, attempt: 1)
    }

    /// A subscribe answer carried `revision` of `service`: the client is pushed only what
    /// changes after it (Nacos pushes the same data again; a client busy in another call can
    /// stall on that push).
    func answered(_ service: ServiceKey, revision: UInt64) {
        eventLoop.assertInEventLoop()
        delivered[service] = max(delivered[service] ?? 0, revision)
        if let next = pending[service], next.revision <= revision { pending.removeValue(forKey: service) }
    }

    /// The client unsubscribed from `service`.
    func forget(_ service: ServiceKey) {
        eventLoop.assertInEventLoop()
        delivered.removeValue(forKey: service)
    }

    /// A response on the stream: the ack (or refusal) of the push with `requestId`.
    func acknowledged(requestId: String, success: Bool, type: String) {
        eventLoop.assertInEventLoop()
        guard let service = serviceByRequestId.removeValue(forKey: requestId), let current = inFlight[service],
            current.requestId == requestId
        else {
            stream.logger.debug("\(type) for unknown or stale requestId \(requestId)")
            return
        }
        current.timer?.cancel()
        if success {
            counters.acked.add(1)
            if let changedAt = current.content.changedAt { counters.latency.record(since: changedAt) }
            inFlight.removeValue(forKey: service)
            delivered[service] = max(delivered[service] ?? 0, current.content.revision)
            if let next = pending.removeValue(forKey: service) {
                send(service, next, attempt: 1)
            }
        } else {
            stream.logger.info("push of \(service) refused by the client (\(type)); retrying")
            inFlight[service] = current
            failed(service)
        }
    }

    func cancelAll() {
        eventLoop.assertInEventLoop()
        for flight in inFlight.values { flight.timer?.cancel() }
        inFlight.removeAll()
        pending.removeAll()
        serviceByRequestId.removeAll()
        delivered.removeAll()
    }

    private func send(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo, attempt: Int) {
        let requestId = requestIds.make()
        var flight = InFlight(requestId: requestId, content: content, attempt: attempt, timer: nil)
        guard stream.isWritable else {
            // The client is not reading; queueing more bytes would only grow memory.
            stream.logger.info("push of \(service) deferred: the client's stream is not writable (it is not reading)")
            inFlight[service] = flight
            failed(service)
            return
        }
        let json = ServerRequestBody.notifySubscriber(requestId: requestId, serviceInfo: content.json)
        guard stream.send(type: "NotifySubscriberRequest", json: json) else {
            inFlight.removeValue(forKey: service)
            return
        }
        counters.sent.add(1)
        serviceByRequestId[requestId] = service
        let ackTimeout = settings.ackTimeout
        flight.timer = eventLoop.assumeIsolated().scheduleTask(in: ackTimeout) { [weak self] in
            guard let self, self.inFlight[service]?.requestId == requestId else { return }
            self.serviceByRequestId.removeValue(forKey: requestId)
            self.stream.logger.info("push of \(service) not acked within \(ackTimeout)")
            self.failed(service)
        }
        inFlight[service] = flight
    }

    /// Retries the newest data for `service` after a backoff, up to the attempt limit.
    private func failed(_ service: ServiceKey) {
        guard let current = inFlight[service] else { return }
        guard current.attempt < settings.maximumAttempts else {
            counters.abandoned.add(1)
            stream.logger.warning(
                "giving up on push of \(service) after \(current.attempt) attempts; the next change pushes again")
            inFlight.removeValue(forKey: service)
            if let next = pending.removeValue(forKey: service) { send(service, next, attempt: 1) }
            return
        }
        counters.retries.add(1)
        let delay = min(
            settings.retryMaximumDelay.nanoseconds,
            settings.retryDelay.nanoseconds << Int64(min(current.attempt - 1, 20)))
        let marker = "retry-\(current.requestId)"
        inFlight[service]!.requestId = marker
        inFlight[service]!.timer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay)) { [weak self] in
            guard let self, let flight = self.inFlight[service], flight.requestId == marker else { return }
            let content = self.pending.removeValue(forKey: service) ?? flight.content
            self.send(service, content, attempt: flight.attempt + 1)
        }
    }
}
