import Synchronization
import Testing

/// What a test started and must stop: servers, connections, sockets. Each step runs once the
/// test has ended, whether it passed, failed or threw, newest first, and the test's scope waits
/// for all of them, so no server outlives its test and no teardown races the next test.
///
/// `TestServer.start` and `TestServer.connect` register themselves; other resources call
/// `tearDownAfterTest`. Both need the `.stopsWhatItStarts` trait on the test or its suite.
public final class Teardown: Sendable {
    @TaskLocal static var current: Teardown?

    private let steps = Mutex<[@Sendable () async -> Void]>([])

    func add(_ step: @escaping @Sendable () async -> Void) {
        steps.withLock { $0.append(step) }
    }

    func run() async {
        let steps = steps.withLock { steps in
            defer { steps.removeAll() }
            return steps
        }
        for step in steps.reversed() { await step() }
    }
}

/// Registers `step` to run when the current test ends. Outside a `.stopsWhatItStarts` scope it
/// records an issue, because a step that never runs would leak a server into later tests.
public func tearDownAfterTest(
    sourceLocation: SourceLocation = #_sourceLocation, _ step: @escaping @Sendable () async -> Void
) {
    guard let teardown = Teardown.current else {
        Issue.record("tearDownAfterTest outside a .stopsWhatItStarts scope", sourceLocation: sourceLocation)
        return
    }
    teardown.add(step)
}

/// The scope that runs each test's teardown steps after it, awaited, pass or fail.
public struct StopsWhatItStarts: TestTrait, SuiteTrait, TestScoping {
    public init() {}

    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope holds no resources; each of its tests gets a scope of its own.
        guard testCase != nil else { return try await function() }
        let teardown = Teardown()
        do {
            try await Teardown.$current.withValue(teardown) { try await function() }
        } catch {
            await teardown.run()
            throw error
        }
        await teardown.run()
    }
}

extension Trait where Self == StopsWhatItStarts {
    /// Stops every server and closes every connection the test started, after it ends.
    public static var stopsWhatItStarts: Self { StopsWhatItStarts() }
}
