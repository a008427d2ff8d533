import Logging
import NIOCore
import RegistrarCore
import RegistrarWire

/// One connection's fuzzy watches: per pattern, the services the client has been told of, and
/// the sync pushes awaiting its ack.
///
/// A `WATCH` is answered at once; then the difference between what matches and what the client
/// says it holds (`receivedGroupKeys`) goes out in batches of 10 (`FUZZY_WATCH_INIT_NOTIFY`
/// while the client is initializing, else `FUZZY_WATCH_DIFF_SYNC_NOTIFY`), and once every
/// initial batch is acked (or `ackTimeout` passes), `FINISH_FUZZY_WATCH_INIT_NOTIFY`. Later,
/// each service that comes into or leaves a pattern's match is one change notify.
///
/// Threading: confined to the connection's event loop (asserted).
final class FuzzyWatchSession {
    private struct Watch {
        let pattern: FuzzyWatchPattern
        /// The services the client has been told of (adds sent, deletes not yet).
        var known: Set<ServiceKey>
        /// Init batches not acked yet, by request id; FINISH goes when this empties.
        var unackedInit: Set<String> = []
        var finishTimer: Scheduled<Void>?
    }

    private let connectionId: String
    private let eventLoop: any EventLoop
    private let index: FuzzyWatchIndex
    private let requestIds: RequestIdGenerator
    private let send: (String, [UInt8]) -> Bool
    private let ackTimeout: TimeAmount
    private var watches: [String: Watch] = [:]

    init(
        connectionId: String, eventLoop: any EventLoop, index: FuzzyWatchIndex, requestIds: RequestIdGenerator,
        ackTimeout: TimeAmount, send: @escaping (String, [UInt8]) -> Bool
    ) {
        self.connectionId = connectionId
        self.eventLoop = eventLoop
        self.index = index
        self.requestIds = requestIds
        self.ackTimeout = ackTimeout
        self.send = send
    }

    /// Why a WATCH was refused or only partly served: Nacos's error code and message.
    struct Refusal: Error {
        var code: Int
        var message: String
    }

    /// Registers or cancels a watch. Returns the sync to send once the response is out, and a
    /// refusal when the pattern is over a limit (a match over the limit still registers).
    func handle(_ request: NamingFuzzyWatchRequest, registry: RegistryStore) throws(RegistryError)
        -> (sync: (() -> Void)?, partial: Refusal?)
    {
        eventLoop.assertInEventLoop()
        let pattern = try FuzzyWatchPattern(request.groupKeyPattern ?? "")
        switch request.watchType ?? FuzzyWatch.watch {
        case FuzzyWatch.cancelWatch:
            cancel(pattern.text)
            return (nil, nil)
        case FuzzyWatch.watch:
            break
        case let other:
            throw .invalidParameter("unsupported watchType '\(other)': expected WATCH or CANCEL_WATCH")
        }
        let limits = index.limits
        if watches[pattern.text] == nil, watches.count >= limits.patternsPerConnection {
            throw RegistryError(
                code: 50310,
                message: "fuzzy watch pattern over limit: this connection already watches \(watches.count) "
                    + "patterns (the limit is \(limits.patternsPerConnection)); cancel one first")
        }
        let (matched, truncated) = registry.read { $0.fuzzyMatches(pattern, limit: limits.matchesPerPattern) }
        let received = Set(request.receivedGroupKeys ?? [])
        let matchedKeys = Dictionary(uniqueKeysWithValues: matched.map { (FuzzyWatchPattern.serviceKey($0), $0) })
        var contexts = matched.filter { !received.contains(FuzzyWatchPattern.serviceKey($0)) }.map {
            (serviceKey: FuzzyWatchPattern.serviceKey($0), changedType: FuzzyWatch.ChangedType.addService)
        }
        // With a truncated match the client may rightly hold more than was matched: no deletes.
        if !truncated {
            contexts += received.subtracting(matchedKeys.keys).sorted().map { ($0, .deleteService) }
        }
        watches[pattern.text]?.finishTimer?.cancel()
        watches[pattern.text] = Watch(pattern: pattern, known: Set(matched))
        index.watch(pattern, by: connectionId)
        let initializing = request.initializing ?? request.isInitializing ?? true
        let partial =
            truncated
            ? Refusal(
                code: 50311,
                message: "fuzzy watch pattern matched count over limit: '\(pattern.text)' matches more than "
                    + "\(limits.matchesPerPattern) services; only the first \(limits.matchesPerPattern) are reported")
            : nil
        return ({ self.sync(pattern.text, contexts, initializing: initializing) }, partial)
    }

    private func sync(
        _ text: String, _ contexts: [(serviceKey: String, changedType: FuzzyWatch.ChangedType)], initializing: Bool
    ) {
        eventLoop.assertInEventLoop()
        guard watches[text] != nil else { return }
        let batches = stride(from: 0, to: contexts.count, by: FuzzyWatch.batchSize).map {
            Array(contexts[$0..<min(contexts.count, $0 + FuzzyWatch.batchSize)])
        }
        let type: FuzzyWatch.SyncType = initializing ? .initNotify : .diffSyncNotify
        for (index, batch) in batches.enumerated() {
            let id = requestIds.make()
            let body = ServerRequestBody.fuzzyWatchSync(
                requestId: id, pattern: text, syncType: type, contexts: batch, totalBatch: batches.count,
                currentBatch: index + 1)
            if send("NamingFuzzyWatchSyncRequest", body), initializing { watches[text]?.unackedInit.insert(id) }
        }
        guard initializing else { return }
        if watches[text]?.unackedInit.isEmpty == true {
            finish(text)
        } else {
            watches[text]?.finishTimer = eventLoop.assumeIsolated().scheduleTask(in: ackTimeout) { [weak self] in
                self?.finish(text)
            }
        }
    }

    private func finish(_ text: String) {
        guard var watch = watches[text] else { return }
        watch.finishTimer?.cancel()
        watch.finishTimer = nil
        watch.unackedInit = []
        watches[text] = watch
        let body = ServerRequestBody.fuzzyWatchSync(
            requestId: requestIds.make(), pattern: text, syncType: .finishInitNotify, contexts: [], totalBatch: 1,
            currentBatch: 1)
        _ = send("NamingFuzzyWatchSyncRequest", body)
    }

    /// An ack on the stream; true if it was one of this session's pushes.
    func acknowledged(requestId: String) -> Bool {
        eventLoop.assertInEventLoop()
        for (text, watch) in watches where watch.unackedInit.contains(requestId) {
            watches[text]?.unackedInit.remove(requestId)
            if watches[text]?.unackedInit.isEmpty == true { finish(text) }
            return true
        }
        return false
    }

    /// `service` may have come into or left what this connection's patterns match.
    func serviceChanged(_ service: ServiceKey, present: Bool) {
        eventLoop.assertInEventLoop()
        var changed: FuzzyWatch.ChangedType?
        for (text, watch) in watches where watch.pattern.matches(service) {
            if present, !watch.known.contains(service), watch.known.count < index.limits.matchesPerPattern {
                watches[text]?.known.insert(service)
                changed = .addService
            } else if !present, watch.known.contains(service) {
                watches[text]?.known.remove(service)
                changed = .deleteService
            }
        }
        guard let changed else { return }
        let body = ServerRequestBody.fuzzyWatchChange(
            requestId: requestIds.make(), serviceKey: FuzzyWatchPattern.serviceKey(service), changedType: changed)
        _ = send("NamingFuzzyWatchChangeNotifyRequest", body)
    }

    private func cancel(_ text: String) {
        guard let watch = watches.removeValue(forKey: text) else { return }
        watch.finishTimer?.cancel()
        index.cancel(watch.pattern, by: connectionId)
    }

    /// The connection is gone.
    func cancelAll() {
        for text in Array(watches.keys) { cancel(text) }
    }
}
