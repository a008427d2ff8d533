import Foundation
import RegistrarClient
import RegistrarTesting
import Testing

@Suite("Half-open connections", .stopsWhatItStarts)
struct KeepaliveTests {
    @Test func vanishedPeerIsDetectedByKeepaliveAndItsInstancesRemoved() async throws {
        let server = try await TestServer.start {
            $0.keepaliveInterval = .milliseconds(200)
            $0.keepaliveTimeout = .milliseconds(300)
            // Make sure it is the transport keepalive, not client detection, that notices.
            $0.idleBeforeDetection = .seconds(600)
        }
        let proxy = try await BlackholeProxy.start(to: server.port, group: TestServer.group)
        let watcher = try await server.connect()
        let doomed = try await NacosConnection.connect(host: "127.0.0.1", port: proxy.port, group: TestServer.group)
        let service = "halfopen-\(UUID().uuidString.prefix(8))"
        try await doomed.register(service, ip: "10.6.0.1", port: 1)
        let answer = try await watcher.subscribe(service)
        #expect(answer.serviceInfo?.hosts?.count == 1)

        proxy.blackhole()
        let emptied = try await watcher.nextPush(of: service, within: .seconds(10)) { $0.isEmpty }
        #expect(emptied != nil)
        // The watcher, which answers PINGs, is still connected.
        #expect(watcher.transport.channel.isActive)
        await doomed.close()
        await watcher.close()
        await proxy.stop()
        await server.stop()
    }
}
