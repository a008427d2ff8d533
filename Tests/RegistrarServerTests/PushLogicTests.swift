import Logging
import NIOCore
import NIOEmbedded
import RegistrarCore
import Synchronization
import Testing

@testable import RegistrarServer

/// A push sink that records what the scheduler offered it.
private final class RecordingSink: PushSink, PushSinkDirectory {
    let offers = Mutex<[(ServiceKey, UInt64)]>([])
    let client: ClientID

    init(client: ClientID) { self.client = client }

    func offerPush(_ service: ServiceKey, _ content: RegistryStore.EncodedServiceInfo) {
        offers.withLock { $0.append((service, content.revision)) }
    }

    func pushSink(for client: ClientID) -> (any PushSink)? { client == self.client ? self : nil }
}

/// A bi-stream that records what a push session wrote.
private final class RecordingStream: PushStream {
    var isWritable = true
    var sent: [(type: String, json: [UInt8])] = []
    var logger: Logger { Logger(label: "test-push") }

    func send(type: String, json: [UInt8]) -> Bool {
        sent.append((type, json))
        return true
    }

    /// The requestId of the n-th push written.
    func requestId(_ index: Int) -> String? {
        let text = String(decoding: sent[index].json, as: UTF8.self)
        guard let range = text.range(of: #""requestId":""#) else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// The push logic without sockets: the scheduler's merge window and the session's acks and
/// retries, driven by an embedded event loop's clock.
@Suite("Push merging and retries")
struct PushLogicTests {
    private let service = ServiceKey(namespace: nil, group: nil, name: "orders")

    private func registry(subscriber: ClientID) throws -> RegistryStore {
        let store = RegistryStore(registry: Registry(wallClock: { 1 }))
        try store.withRegistry { (registry) throws(RegistryError) in
            registry.addClient(subscriber, kind: .connection)
            registry.addClient("publisher", kind: .connection)
            _ = try registry.subscribe(client: subscriber, service: service)
        }
        return store
    }

    private func publish(_ store: RegistryStore, port: Int) throws {
        _ = try store.withRegistry { (registry) throws(RegistryError) in
            try registry.publish(
                client: "publisher", service: service, instances: [Instance(ip: "10.0.0.1", port: port)])
        }
    }

    @Test func aBurstIsPushedOnceAtOnceAndOnceMoreAtTheEndOfTheWindow() throws {
        let loop = EmbeddedEventLoop()
        let sink = RecordingSink(client: "subscriber")
        let store = try registry(subscriber: "subscriber")
        let scheduler = PushScheduler(
            store: store, sinks: sink, udp: nil, timerLoop: loop, mergeWindow: .milliseconds(20))
        for port in 1...10 {
            try publish(store, port: port)
            scheduler.servicesChanged([service])
        }
        // The leading edge goes at once; the nine changes behind it wait for the window.
        #expect(sink.offers.withLock { $0.count } == 1)
        loop.advanceTime(by: .milliseconds(19))
        #expect(sink.offers.withLock { $0.count } == 1)
        loop.advanceTime(by: .milliseconds(1))
        let offers = sink.offers.withLock { $0 }
        #expect(offers.count == 2)
        // The merged push carries the newest revision.
        let newest = store.read { $0.revision(of: service) }
        #expect(offers.last?.1 == newest)
        // A quiet window ends the merging: the next change is pushed at once again.
        loop.advanceTime(by: .milliseconds(20))
        try publish(store, port: 11)
        scheduler.servicesChanged([service])
        #expect(sink.offers.withLock { $0.count } == 3)
    }

    private func session(_ stream: RecordingStream, _ loop: EmbeddedEventLoop, _ counters: PushCounters) -> PushSession
    {
        let settings = PushSettings(
            ackTimeout: .seconds(5), maximumAttempts: 3, retryDelay: .seconds(1), retryMaximumDelay: .seconds(10))
        return PushSession(
            stream: stream, eventLoop: loop, settings: settings, requestIds: RequestIdGenerator(), counters: counters)
    }

    @Test func anUnackedPushIsRetriedWithBackoffThenAbandoned() throws {
        let loop = EmbeddedEventLoop()
        let stream = RecordingStream()
        let metrics = RegistrarMetrics()
        let counters = PushCounters(metrics: metrics)
        let session = session(stream, loop, counters)
        session.offer(service, .init(revision: 1, json: Array("{}".utf8)))
        #expect(stream.sent.count == 1)
        loop.advanceTime(by: .seconds(5))  // ack timeout: retry after 1 s
        #expect(stream.sent.count == 1)
        loop.advanceTime(by: .seconds(1))
        #expect(stream.sent.count == 2)
        loop.advanceTime(by: .seconds(5))  // second timeout: retry after 2 s
        loop.advanceTime(by: .milliseconds(1999))
        #expect(stream.sent.count == 2)
        loop.advanceTime(by: .milliseconds(1))
        #expect(stream.sent.count == 3)
        loop.advanceTime(by: .seconds(60))  // third attempt unacked: abandoned, no more sends
        #expect(stream.sent.count == 3)
        #expect(pushes(metrics, "retried") == 2 && pushes(metrics, "abandoned") == 1)
        session.cancelAll()
    }

    @Test func oneInFlightPerServiceAndTheNewestPendingGoesAfterTheAck() throws {
        let loop = EmbeddedEventLoop()
        let stream = RecordingStream()
        let metrics = RegistrarMetrics()
        let counters = PushCounters(metrics: metrics)
        let session = session(stream, loop, counters)
        session.offer(service, .init(revision: 1, json: Array("{\"r\":1}".utf8)))
        session.offer(service, .init(revision: 2, json: Array("{\"r\":2}".utf8)))
        session.offer(service, .init(revision: 3, json: Array("{\"r\":3}".utf8)))
        #expect(stream.sent.count == 1)
        session.acknowledged(
            requestId: try #require(stream.requestId(0)), success: true, type: "NotifySubscriberResponse")
        #expect(stream.sent.count == 2)
        #expect(String(decoding: stream.sent[1].json, as: UTF8.self).contains(#"{"r":3}"#))
        // A stale or unknown ack changes nothing.
        session.acknowledged(requestId: "nope", success: true, type: "NotifySubscriberResponse")
        session.acknowledged(
            requestId: try #require(stream.requestId(1)), success: true, type: "NotifySubscriberResponse")
        loop.advanceTime(by: .seconds(60))
        #expect(stream.sent.count == 2 && pushes(metrics, "acked") == 2 && pushes(metrics, "retried") == 0)
    }

    @Test func nothingAtOrBelowWhatTheClientHasIsPushed() throws {
        let loop = EmbeddedEventLoop()
        let stream = RecordingStream()
        let metrics = RegistrarMetrics()
        let counters = PushCounters(metrics: metrics)
        let session = session(stream, loop, counters)
        session.answered(service, revision: 5)  // the subscribe answer carried revision 5
        session.offer(service, .init(revision: 5, json: Array("{\"r\":5}".utf8)))
        session.offer(service, .init(revision: 4, json: Array("{\"r\":4}".utf8)))
        #expect(stream.sent.isEmpty && pushes(metrics, "skipped") == 2)
        session.offer(service, .init(revision: 6, json: Array("{\"r\":6}".utf8)))
        #expect(stream.sent.count == 1)
        session.acknowledged(
            requestId: try #require(stream.requestId(0)), success: true, type: "NotifySubscriberResponse")
        session.offer(service, .init(revision: 6, json: Array("{\"r\":6}".utf8)))  // acked: known
        #expect(stream.sent.count == 1 && pushes(metrics, "skipped") == 3)
        // After an unsubscribe, a new subscription starts from its own answer.
        session.forget(service)
        session.offer(service, .init(revision: 6, json: Array("{\"r\":6}".utf8)))
        #expect(stream.sent.count == 2)
    }
}

/// A count of `registrar_pushes_total{transport="grpc",result}`, read back as a scrape would.
private func pushes(_ metrics: RegistrarMetrics, _ result: String) -> Int {
    metrics.reading().count(MetricName.pushes, ["transport": "grpc", "result": result])
}
