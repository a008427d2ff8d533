import RegistrarCore
import Testing

@testable import RegistrarServer

@Suite("Console events and metrics reading")
struct ConsoleEventsTests {
    private let orders = ServiceKey(namespace: "public", group: "DEFAULT_GROUP", name: "orders")

    @Test func everyOpenStreamGetsEachChangeAndCloseEndsThem() async throws {
        let events = ConsoleEvents(settings: .init(interval: .seconds(3600), maximumStreams: 2, bufferSize: 8))
        let first = try #require(events.open())
        let second = try #require(events.open())
        #expect(events.open() == nil)  // over the limit
        events.servicesChanged([orders])
        events.close()
        #expect(events.open() == nil)  // stopping: no new streams
        for stream in [first, second] {
            var received: [ServiceKey] = []
            for await event in stream {
                if case let .change(service) = event { received.append(service) }
            }
            #expect(received == [orders])
        }
    }

    @Test func aSlowReaderKeepsOnlyTheNewestEvents() async throws {
        let events = ConsoleEvents(settings: .init(interval: .seconds(3600), maximumStreams: 1, bufferSize: 2))
        let stream = try #require(events.open())
        let services = (0..<5).map { ServiceKey(namespace: "public", group: "G", name: "s\($0)") }
        events.servicesChanged(services)
        events.close()
        var received: [String] = []
        for await event in stream {
            if case let .change(service) = event { received.append(service.name) }
        }
        #expect(received == ["s3", "s4"])
    }

    @Test func theReadingSumsSamplesByLabelAsScraped() {
        let metrics = RegistrarMetrics()
        let pushes = PushCounters(metrics: metrics)
        pushes.sent.add(3)
        pushes.udpSent.add(2)
        pushes.acked.add(1)
        let reading = metrics.reading()
        #expect(reading.count(MetricName.pushes, ["result": "sent"]) == 5)
        #expect(reading.count(MetricName.pushes, ["transport": "grpc", "result": "sent"]) == 3)
        #expect(reading.count(MetricName.pushes) == 6)
        #expect(RegistrarMetrics(enabled: false).reading().samples.isEmpty)
    }

    @Test func ratesAreDeltasPerSecondAndChangesNameTheService() {
        let before = ConsoleEvents.Reading(requests: 10, pushes: 4, connections: 1, members: [])
        let after = ConsoleEvents.Reading(requests: 30, pushes: 8, connections: 2, members: [("127.0.0.1:8848", "UP")])
        let rates = ConsoleRoutes.rates(after, previous: before, interval: 2)
        #expect(rates.hasPrefix("event: rates\ndata: {\"requestsPerSecond\":10"))
        #expect(rates.contains("\"pushesPerSecond\":2") && rates.contains("\"state\":\"UP\""))
        #expect(rates.hasSuffix("\n\n"))
        #expect(
            ConsoleRoutes.change(orders)
                == "event: change\ndata: {\"namespaceId\":\"public\",\"groupName\":\"DEFAULT_GROUP\","
                + "\"serviceName\":\"orders\"}\n\n"
        )
    }
}
