import RegistrarServer
import RegistrarTesting
import Synchronization
import Testing

/// The test helpers keep their promises: teardown always runs, and bounded waits are bounded.
@Suite("Test support")
struct TestSupportTests {
    private struct Boom: Error {}

    @Test func theScopeStopsTheServerItStartedEvenWhenTheTestThrows() async throws {
        let started = Mutex<TestServer?>(nil)
        await #expect(throws: Boom.self) {
            try await StopsWhatItStarts().provideScope(for: Test.current!, testCase: Test.Case.current) {
                let server = try await TestServer.start()
                started.withLock { $0 = server }
                throw Boom()
            }
        }
        // The scope returned only after the server stopped: it holds no port any more. (Its port
        // number may already be another test's, so the server itself is asked.)
        let server = try #require(started.withLock { $0 })
        #expect(server.server.grpcAddress == nil && server.server.httpAddress == nil)
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
