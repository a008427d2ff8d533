import Foundation
import RegistrarClient
import RegistrarTesting
import RegistrarWire
import Synchronization
import Testing

/// One fuzzy-watch push, as the client reads it.
struct FuzzyPush: Sendable {
    var type: String
    var syncType: String
    var totalBatch: Int?
    /// A sync's contexts.
    var keys: [String]
    var changedTypes: [String]
    /// A change notify's service.
    var serviceKey: String?
    var changedType: String?
    var requestId: String

    init(type: String, body: [String: Any]) {
        self.type = type
        requestId = body["requestId"] as? String ?? ""
        syncType = body["syncType"] as? String ?? ""
        totalBatch = body["totalBatch"] as? Int
        let contexts = body["contexts"] as? [[String: Any]] ?? []
        keys = contexts.compactMap { $0["serviceKey"] as? String }
        changedTypes = contexts.compactMap { $0["changedType"] as? String }
        serviceKey = body["serviceKey"] as? String
        changedType = body["changedType"] as? String
    }
}

/// Collects a connection's fuzzy-watch pushes in the background. (Waiting on the stream
/// itself with a timeout would cancel the iteration, which ends an `AsyncStream` for good.)
final class FuzzyPushes: Sendable {
    private final class Inbox: Sendable {
        let pushes = Mutex<[FuzzyPush]>([])
    }

    private let inbox = Inbox()
    private let task: Task<Void, Never>

    init(_ connection: NacosConnection) {
        let inbox = self.inbox
        task = Task {
            for await request in connection.serverRequests where request.message.type.hasPrefix("NamingFuzzyWatch") {
                let body = (try? JSONSerialization.jsonObject(with: Data(request.message.json))) as? [String: Any]
                let push = FuzzyPush(type: request.message.type, body: body ?? [:])
                inbox.pushes.withLock { $0.append(push) }
            }
        }
    }

    deinit { task.cancel() }

    /// The next push, or nil if none comes within `timeout` (polled; bounded).
    func next(within timeout: Duration = .seconds(5)) async -> FuzzyPush? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let push = inbox.pushes.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return push }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Naming fuzzy watch over real loopback connections, with the message shapes and sequence of
/// Nacos 3.x (`NamingFuzzyWatchRequest`, then `NamingFuzzyWatchSyncRequest` batches and
/// `NamingFuzzyWatchChangeNotifyRequest`s on the stream, each acked by the client).
@Suite("Fuzzy watch", .stopsWhatItStarts)
struct FuzzyWatchTests {
    static func watch(
        _ connection: NacosConnection, _ pattern: String, received: [String] = [], initializing: Bool = true,
        type: String = FuzzyWatch.watch
    ) async throws -> ResponseFields {
        let request = NamingFuzzyWatchRequest(
            namespace: "public", groupKeyPattern: pattern, receivedGroupKeys: received, watchType: type,
            initializing: initializing)
        return try decode(ResponseFields.self, try await connection.request("NamingFuzzyWatchRequest", request))
    }

    @Test func initialSyncInBatchesThenAddsAndRemovesAcrossNamespaces() async throws {
        let server = try await TestServer.start()
        let publisher = try await server.connect()
        let watcher = try await server.connect()
        let pushes = FuzzyPushes(watcher)
        let tag = UUID().uuidString.prefix(6).lowercased()
        for index in 1...12 { try await publisher.register("fw-\(tag)-\(index)", ip: "10.8.0.\(index)", port: 80) }
        try await publisher.register("other-\(tag)", ip: "10.8.1.1", port: 80)
        try await publisher.register("fw-\(tag)-g", ip: "10.8.1.2", port: 80, group: "ELSEWHERE")
        _ = try await server.http.call(
            "POST", "/nacos/v1/console/namespaces",
            [
                ("customNamespaceId", "fw-\(tag)"), ("namespaceName", "fuzzy"),
            ])

        let answer = try await Self.watch(watcher, "public>>DEFAULT_GROUP>>fw-\(tag)-*")
        #expect(answer.resultCode == 200)
        // 12 matches: two INIT batches (10 + 2), then FINISH.
        var keys: [String] = []
        for _ in 0..<2 {
            let batch = try #require(await pushes.next())
            #expect(batch.type == "NamingFuzzyWatchSyncRequest" && batch.syncType == "FUZZY_WATCH_INIT_NOTIFY")
            #expect(batch.totalBatch == 2)
            #expect(batch.changedTypes.allSatisfy { $0 == "ADD_SERVICE" })
            keys += batch.keys
        }
        #expect(Set(keys) == Set((1...12).map { "public@@DEFAULT_GROUP@@fw-\(tag)-\($0)" }))
        let finish = try #require(await pushes.next())
        #expect(finish.syncType == "FINISH_FUZZY_WATCH_INIT_NOTIFY" && finish.keys.isEmpty)

        // A second pattern, in another namespace, that matches nothing yet: only FINISH.
        #expect(try await Self.watch(watcher, "fw-\(tag)>>*>>*").resultCode == 200)
        #expect(await pushes.next()?.syncType == "FINISH_FUZZY_WATCH_INIT_NOTIFY")

        // A new matching service, in each namespace, is one change notify each.
        try await publisher.register("fw-\(tag)-13", ip: "10.8.0.13", port: 80)
        var change = try #require(await pushes.next())
        #expect(change.type == "NamingFuzzyWatchChangeNotifyRequest")
        #expect(change.serviceKey == "public@@DEFAULT_GROUP@@fw-\(tag)-13")
        #expect(change.changedType == "ADD_SERVICE")
        _ = try await server.http.register("in-ns", ip: "10.8.2.1", port: 80, [("namespaceId", "fw-\(tag)")])
        change = try #require(await pushes.next())
        #expect(change.serviceKey == "fw-\(tag)@@DEFAULT_GROUP@@in-ns")

        // More instances of a known service change nothing; the last one leaving deletes it.
        try await publisher.register("fw-\(tag)-13", ip: "10.8.0.99", port: 80)
        _ = try await server.http.call(
            "DELETE", "/nacos/v1/ns/instance",
            [("serviceName", "in-ns"), ("ip", "10.8.2.1"), ("port", "80"), ("namespaceId", "fw-\(tag)")])
        change = try #require(await pushes.next())
        #expect(change.serviceKey == "fw-\(tag)@@DEFAULT_GROUP@@in-ns")
        #expect(change.changedType == "DELETE_SERVICE")

        // When the publisher's connection goes, its services leave the match.
        await publisher.close()
        var deleted = Set<String>()
        while deleted.count < 13, let push = await pushes.next() {
            #expect(push.changedType == "DELETE_SERVICE")
            deleted.insert(push.serviceKey ?? "")
        }
        #expect(deleted == Set((1...13).map { "public@@DEFAULT_GROUP@@fw-\(tag)-\($0)" }))
    }

    @Test func aRewatchSyncsOnlyTheDifferenceAndACancelStopsNotifies() async throws {
        let server = try await TestServer.start()
        let publisher = try await server.connect()
        let watcher = try await server.connect()
        let pushes = FuzzyPushes(watcher)
        let tag = UUID().uuidString.prefix(6).lowercased()
        try await publisher.register("dw-\(tag)-a", ip: "10.8.3.1", port: 80)
        try await publisher.register("dw-\(tag)-b", ip: "10.8.3.2", port: 80)
        let pattern = "public>>DEFAULT_GROUP>>dw-\(tag)-*"
        // The client already holds a and a stale c: it is told to add b and delete c, no FINISH.
        let held = ["public@@DEFAULT_GROUP@@dw-\(tag)-a", "public@@DEFAULT_GROUP@@dw-\(tag)-c"]
        #expect(try await Self.watch(watcher, pattern, received: held, initializing: false).resultCode == 200)
        let diff = try #require(await pushes.next())
        #expect(diff.syncType == "FUZZY_WATCH_DIFF_SYNC_NOTIFY")
        #expect(
            Dictionary(uniqueKeysWithValues: zip(diff.keys, diff.changedTypes)) == [
                "public@@DEFAULT_GROUP@@dw-\(tag)-b": "ADD_SERVICE",
                "public@@DEFAULT_GROUP@@dw-\(tag)-c": "DELETE_SERVICE",
            ])
        #expect(await pushes.next(within: .milliseconds(500)) == nil)

        #expect(try await Self.watch(watcher, pattern, type: FuzzyWatch.cancelWatch).resultCode == 200)
        try await publisher.register("dw-\(tag)-d", ip: "10.8.3.4", port: 80)
        #expect(await pushes.next(within: .milliseconds(500)) == nil)
    }

    @Test func finishComesOnceEveryInitialBatchIsAcked() async throws {
        // An ack timeout far beyond the test's waits: FINISH can only come from the acks.
        let server = try await TestServer.start { $0.pushAckTimeout = .seconds(60) }
        let publisher = try await server.connect()
        let watcher = try await server.connect(autoAck: false)
        let pushes = FuzzyPushes(watcher)
        let tag = UUID().uuidString.prefix(6).lowercased()
        for index in 1...11 { try await publisher.register("aw-\(tag)-\(index)", ip: "10.8.5.\(index)", port: 80) }
        #expect(try await Self.watch(watcher, "public>>DEFAULT_GROUP>>aw-\(tag)-*").resultCode == 200)
        let first = try #require(await pushes.next())
        let second = try #require(await pushes.next())
        #expect(first.keys.count + second.keys.count == 11)
        watcher.respond(type: "NamingFuzzyWatchSyncResponse", requestId: first.requestId)
        #expect(await pushes.next(within: .milliseconds(500)) == nil)
        watcher.respond(type: "NamingFuzzyWatchSyncResponse", requestId: second.requestId)
        #expect(await pushes.next()?.syncType == "FINISH_FUZZY_WATCH_INIT_NOTIFY")
    }

    @Test func aRefusedPushIsSentAgainUntilAckedAndThenNoMore() async throws {
        let server = try await TestServer.start {
            $0.pushAckTimeout = .seconds(60)
            $0.pushRetryDelay = .milliseconds(50)
            $0.pushMaximumAttempts = 3
        }
        let publisher = try await server.connect()
        let watcher = try await server.connect(autoAck: false)
        let pushes = FuzzyPushes(watcher)
        let tag = UUID().uuidString.prefix(6).lowercased()
        #expect(try await Self.watch(watcher, "public>>DEFAULT_GROUP>>rw-\(tag)-*").resultCode == 200)
        let finish = try #require(await pushes.next())
        #expect(finish.syncType == "FINISH_FUZZY_WATCH_INIT_NOTIFY")
        watcher.respond(type: "NamingFuzzyWatchChangeNotifyResponse", requestId: finish.requestId)

        try await publisher.register("rw-\(tag)-1", ip: "10.8.6.1", port: 80)
        let first = try #require(await pushes.next())
        watcher.respond(type: "NamingFuzzyWatchChangeNotifyResponse", requestId: first.requestId, resultCode: 500)
        let again = try #require(await pushes.next())
        #expect(again.serviceKey == first.serviceKey && again.changedType == "ADD_SERVICE")
        #expect(again.requestId != first.requestId)
        watcher.respond(type: "NamingFuzzyWatchChangeNotifyResponse", requestId: again.requestId)
        #expect(await pushes.next(within: .milliseconds(500)) == nil)

        // Refused every time: sent `pushMaximumAttempts` times in all, then dropped.
        try await publisher.register("rw-\(tag)-2", ip: "10.8.6.2", port: 80)
        var attempts = 0
        while let push = await pushes.next(within: .milliseconds(800)) {
            #expect(push.serviceKey == "public@@DEFAULT_GROUP@@rw-\(tag)-2")
            attempts += 1
            watcher.respond(type: "NamingFuzzyWatchChangeNotifyResponse", requestId: push.requestId, resultCode: 500)
            if attempts > 5 { break }
        }
        #expect(attempts == 3)
    }

    @Test func limitsGiveClearErrorsAndBadPatternsAreRefused() async throws {
        let server = try await TestServer.start {
            $0.fuzzyWatchPatternsPerConnection = 2
            $0.fuzzyWatchMatchesPerPattern = 3
        }
        let publisher = try await server.connect()
        let watcher = try await server.connect()
        let pushes = FuzzyPushes(watcher)
        let tag = UUID().uuidString.prefix(6).lowercased()
        for index in 1...5 { try await publisher.register("lw-\(tag)-\(index)", ip: "10.8.4.\(index)", port: 80) }

        // Over the match limit: registered, answered 50311, and only 3 services reported.
        let partial = try await Self.watch(watcher, "public>>DEFAULT_GROUP>>lw-\(tag)-*")
        #expect(partial.resultCode == 500 && partial.errorCode == 50311)
        #expect(partial.message?.contains("only the first 3") == true)
        #expect(await pushes.next()?.keys.count == 3)
        #expect(await pushes.next()?.syncType == "FINISH_FUZZY_WATCH_INIT_NOTIFY")

        #expect(try await Self.watch(watcher, "public>>DEFAULT_GROUP>>nothing-\(tag)").resultCode == 200)
        let over = try await Self.watch(watcher, "public>>*>>third-\(tag)*")
        #expect(over.resultCode == 500 && over.errorCode == 50310)
        #expect(over.message?.contains("the limit is 2") == true)

        for bad in ["no-separators", "public>>a*b>>x", "public>>>>x", "public>>*>>x>>y"] {
            let refused = try await Self.watch(watcher, bad)
            #expect(refused.resultCode == 500 && refused.errorCode == 400, "\(bad)")
            #expect(refused.message?.contains("is illegal") == true)
        }
        let unknownType = try await Self.watch(watcher, "public>>*>>x", type: "PEEK")
        #expect(unknownType.resultCode == 500 && unknownType.message?.contains("watchType") == true)
        // The connection still works after all of that.
        #expect(try await watcher.query("lw-\(tag)-1").serviceInfo?.hosts?.count == 1)
    }
}
