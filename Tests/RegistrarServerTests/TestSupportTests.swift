import RegistrarTesting
import RegistrarTransport
import Synchronization
import Testing

/// The test helpers keep their promises: teardown always runs, and bounded waits are bounded.
@Suite("Test support")
struct TestSupportTests {
    private struct Boom: Error {}

    @Test func theScopeStopsTheServerItStartedEvenWhenTheTestThrows() async throws {
        let port = Mutex<Int?>(nil)
        await #expect(throws: Boom.self) {
            try await StopsWhatItStarts().provideScope(for: Test.current!, testCase: Test.Case.current) {
                let server = try await TestServer.start()
                port.withLock { $0 = server.port }
                throw Boom()
            }
        }
        // The scope returned only after the server stopped: its port refuses connections.
        let stoppedPort = try #require(port.withLock { $0 })
        await #expect(throws: (any Error).self) {
            let connection = try await GRPCClientConnection.connect(
                host: "127.0.0.1", port: stoppedPort, group: TestServer.group)
            await connection.close()
        }
    }

    @Test func withTimeoutGivesUpOnABodyThatIgnoresCancellation() async throws {
        let stuck = Mutex<CheckedContinuation<Void, Never>?>(nil)
        await #expect(throws: TimedOut.self) {
            try await withTimeout(.milliseconds(100)) {
                await withCheckedContinuation { continuation in stuck.withLock { $0 = continuation } }
            }
        }
        // Let the abandoned body finish so that nothing outlives the test.
        #expect(try await eventually { stuck.withLock { $0 != nil } })
        stuck.withLock { $0.take() }?.resume()
    }
}
