import RegistrarTesting
import Foundation
import NIOCore
import RegistrarClient
import RegistrarWire
import Synchronization
import Testing

@Suite("Liveness and push delivery")
struct LivenessAndPushTests {
    @Test func idleClientThatIgnoresDetectionIsDropped() async throws {
        let server = try await TestServer.start {
            $0.idleBeforeDetection = .milliseconds(300)
            $0.detectionTimeout = .milliseconds(300)
            $0.livenessScanInterval = .milliseconds(100)
        }
        let watcher = try await server.connect()
        let silent = try await server.connect(autoAck: false)
        let service = "idle-\(UUID().uuidString.prefix(8))"
        try await silent.register(service, ip: "10.3.0.1", port: 1)
        _ = try await watcher.subscribe(service)

        // The watcher answers detection and stays; the silent client is dropped with its instance.
        let emptied = try await watcher.nextPush(of: service, within: .seconds(10)) { $0.isEmpty }
        #expect(emptied != nil)
        #expect(try await eventually(.seconds(5)) { !silent.transport.channel.isActive })
        #expect(watcher.transport.channel.isActive)
        await watcher.close()
        await silent.close()
        await server.stop()
    }

    @Test func clientThatNeverAcksGetsBoundedRetriesAndOthersAreServed() async throws {
        let server = try await TestServer.start {
            $0.pushAckTimeout = .milliseconds(100)
            $0.pushRetryDelay = .milliseconds(50)
            $0.pushRetryMaximumDelay = .milliseconds(100)
            $0.pushMaximumAttempts = 3
        }
        let publisher = try await server.connect()
        let healthy = try await server.connect()
        let neverAcks = try await server.connect(autoAck: false)
        let service = "noack-\(UUID().uuidString.prefix(8))"
        _ = try await neverAcks.subscribe(service)
        _ = try await healthy.subscribe(service)
        try await publisher.register(service, ip: "10.4.0.1", port: 1)

        #expect(try await healthy.nextPush(of: service) { $0.count == 1 } != nil)
        // The first-subscribe push (no hosts) and then the change; neither is acked. Count the
        // copies of the change: the first send plus at most (attempts - 1) retries, then silence.
        let counter = Mutex(0)
        let reader = Task {
            for await request in neverAcks.serverRequests where request.message.type == "NotifySubscriberRequest" {
                if (try? JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json))?.serviceInfo?.hosts?.count == 1 {
                    counter.withLock { $0 += 1 }
                }
            }
        }
        // 3 attempts take about 100+50+100+100+100 ms; wait well past that.
        try await Task.sleep(for: .seconds(2))
        reader.cancel()
        let copies = counter.withLock { $0 }
        #expect(copies >= 1 && copies <= 3)
        // The healthy subscriber still gets later changes.
        try await publisher.register(service, ip: "10.4.0.2", port: 2)
        #expect(try await healthy.nextPush(of: service) { $0.first?.ip == "10.4.0.2" } != nil)
        await publisher.close()
        await healthy.close()
        await neverAcks.close()
        await server.stop()
    }

    @Test func burstOfChangesIsMergedAndEndsOnTheLatestState() async throws {
        let server = try await TestServer.start { $0.pushMergeWindow = .milliseconds(100) }
        let subscriber = try await server.connect()
        let publisher = try await server.connect()
        let service = "burst-\(UUID().uuidString.prefix(8))"
        _ = try await subscriber.subscribe(service)
        for port in 1...20 {
            try await publisher.register(service, ip: "10.5.0.1", port: port)
        }
        // However the burst was merged, the subscriber ends on the last registration.
        let last = try await subscriber.nextPush(of: service) { $0.first?.port == 20 }
        #expect(last != nil)
        await subscriber.close()
        await publisher.close()
        await server.stop()
    }
}
