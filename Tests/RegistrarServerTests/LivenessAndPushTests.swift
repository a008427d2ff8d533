import Foundation
import NIOCore
import RegistrarClient
import RegistrarTesting
import RegistrarWire
import Synchronization
import Testing

@Suite("Liveness and push delivery", .stopsWhatItStarts)
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
        // The first-subscribe push (no hosts), then the change in its retries; none is acked.
        // Once the server has given up, a second change is a fence: every copy of the first
        // change is ahead of it in the stream, so counting up to it counts them all.
        #expect(try await eventually(.seconds(5)) { try await server.metric("pushesAbandoned") == 1 })
        try await publisher.register(service, ip: "10.4.0.2", port: 2)
        let copies = try await withTimeout(.seconds(5)) {
            var copies = 0
            for await request in neverAcks.serverRequests where request.message.type == "NotifySubscriberRequest" {
                let hosts = try JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json).serviceInfo?
                    .hosts
                if hosts?.first?.ip == "10.4.0.2" { break }
                if hosts?.count == 1 { copies += 1 }
            }
            return copies
        }
        // The first send plus at most (attempts - 1) retries, then silence.
        #expect(copies >= 1 && copies <= 3)
        // The healthy subscriber gets the later change too.
        #expect(try await healthy.nextPush(of: service) { $0.first?.ip == "10.4.0.2" } != nil)
        await publisher.close()
        await healthy.close()
        await neverAcks.close()
        await server.stop()
    }

    /// Twenty changes inside one merge window reach the subscriber as a few pushes, not twenty,
    /// and the last push carries the final state. Without merging, each change is its own push.
    @Test func burstOfChangesIsMergedAndEndsOnTheLatestState() async throws {
        let server = try await TestServer.start { $0.pushMergeWindow = .milliseconds(500) }
        let subscriber = try await server.connect()
        let publisher = try await server.connect()
        let service = "burst-\(UUID().uuidString.prefix(8))"
        _ = try await subscriber.subscribe(service)
        let changes = 20
        for port in 1...changes {
            try await publisher.register(service, ip: "10.5.0.1", port: port)
        }
        let pushes = try await withTimeout(.seconds(10)) {
            var seen: [ServiceInfoBody] = []
            for await request in subscriber.serverRequests where request.message.type == "NotifySubscriberRequest" {
                let push = try JSONDecoder().decode(ServiceInfoMessage.self, from: request.message.json)
                guard let info = push.serviceInfo, info.name == service else { continue }
                seen.append(info)
                if info.hosts?.first?.port == changes { break }
            }
            return seen
        }
        #expect(pushes.count < changes / 2, "\(pushes.count) pushes for \(changes) changes")
        #expect(pushes.last?.hosts?.map(\.port) == [changes])
        await subscriber.close()
        await publisher.close()
        await server.stop()
    }
}
