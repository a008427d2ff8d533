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
/// initial batch is acked (or has used up its attempts), `FINISH_FUZZY_WATCH_INIT_NOTIFY`.
/// Later, each service that comes into or leaves a pattern's match is one change notify. Every
/// push is retried like a subscriber push (`PushSettings`): ack timeout, backoff, bounded.
///
/// Threading: confined to the connection's event loop (asserted).
final class FuzzyWatchSession {
    private struct Watch {
        let pattern: FuzzyWatchPattern
        /// The services the client has been told of (adds sent, deletes not yet).
        var known: Set<ServiceKey>
        /// Which WATCH of the pattern this is: pushes of an earlier round no longer count.
        let round: Int
        /// Init batches not yet acked (or given up); FINISH goes when this reaches 0.
        var initBatchesLeft = 0
    }

    private let connectionId: String
    private let eventLoop: any EventLoop
    private let index: FuzzyWatchIndex
    private let requestIds: RequestIdGenerator
    private let send: (String, [UInt8]) -> Bool
    private let settings: PushSettings
    private var watches: [String: Watch] = [:]

    /// A push awaiting its ack: how to write it again (with a new request id), which pattern's
    /// initial sync it belongs to, if any, and its attempt.
    private struct InFlight {
        var type: String
        var body: (String) -> [UInt8]
        var initOf: (pattern: String, round: Int)?
        var attempt: Int
        var timer: Scheduled<Void>?
    }

    private var inFlight: [String: InFlight] = [:]
    private var rounds = 0

    init(
        connectionId: String, eventLoop: any EventLoop, index: FuzzyWatchIndex, requestIds: RequestIdGenerator,
        settings: PushSettings, send: @escaping (String, [UInt8]) -> Bool
    ) {
        self.connectionId = connectionId
        self.eventLoop = eventLoop
        self.index = index
        self.requestIds = requestIds
        self.settings = settings
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
        rounds += 1
        watches[pattern.text] = Watch(pattern: pattern, known: Set(matched), round: rounds)
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
        let initOf = initializing ? watches[text].map { (text, $0.round) } : nil
        if initializing { watches[text]?.initBatchesLeft = batches.count }
        for (index, batch) in batches.enumerated() {
            let total = batches.count
            push("NamingFuzzyWatchSyncRequest", initOf: initOf) { id in
                ServerRequestBody.fuzzyWatchSync(
                    requestId: id, pattern: text, syncType: type, contexts: batch, totalBatch: total,
                    currentBatch: index + 1)
            }
        }
        if initializing, batches.isEmpty { finish(text) }
    }

    /// Sends a push and keeps it until acked; a failed or missing ack resends it with backoff,
    /// up to `maximumAttempts`, then it is dropped (the client catches up on its next WATCH).
    private func push(
        _ type: String, initOf: (pattern: String, round: Int)?, attempt: Int = 1,
        _ body: @escaping (String) -> [UInt8]
    ) {
        let id = requestIds.make()
        var flight = InFlight(type: type, body: body, initOf: initOf, attempt: attempt)
        _ = send(type, body(id))
        flight.timer = eventLoop.assumeIsolated().scheduleTask(in: settings.ackTimeout) { [weak self] in
            self?.failed(id)
        }
        inFlight[id] = flight
    }

    private func failed(_ id: String) {
        guard let flight = inFlight.removeValue(forKey: id) else { return }
        flight.timer?.cancel()
        let stillWatched = flight.initOf.map(isCurrent) ?? !watches.isEmpty
        guard flight.attempt < settings.maximumAttempts, stillWatched else {
            batchDone(flight.initOf)
            return
        }
        let delay = min(settings.retryMaximumDelay.nanoseconds, settings.retryDelay.nanoseconds << (flight.attempt - 1))
        eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay)) { [weak self] in
            guard let self else { return }
            guard flight.initOf.map(self.isCurrent) ?? true else { return }
            self.push(flight.type, initOf: flight.initOf, attempt: flight.attempt + 1, flight.body)
        }
    }

    private func isCurrent(_ initOf: (pattern: String, round: Int)) -> Bool {
        watches[initOf.pattern]?.round == initOf.round
    }

    /// An initial batch was acked or given up; the last one sends FINISH.
    private func batchDone(_ initOf: (pattern: String, round: Int)?) {
        guard let initOf, isCurrent(initOf) else { return }
        watches[initOf.pattern]?.initBatchesLeft -= 1
        if watches[initOf.pattern]?.initBatchesLeft == 0 { finish(initOf.pattern) }
    }

    private func finish(_ text: String) {
        guard watches[text] != nil else { return }
        push("NamingFuzzyWatchSyncRequest", initOf: nil) { id in
            ServerRequestBody.fuzzyWatchSync(
                requestId: id, pattern: text, syncType: .finishInitNotify, contexts: [], totalBatch: 1, currentBatch: 1)
        }
    }

    /// An ack on the stream; true if it was one of this session's pushes.
    func acknowledged(requestId: String, success: Bool) -> Bool {
        eventLoop.assertInEventLoop()
        guard let flight = inFlight[requestId] else { return false }
        guard success else {
            failed(requestId)
            return true
        }
        inFlight.removeValue(forKey: requestId)
        flight.timer?.cancel()
        batchDone(flight.initOf)
        return true
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
        let key = FuzzyWatchPattern.serviceKey(service)
        push("NamingFuzzyWatchChangeNotifyRequest", initOf: nil) { id in
            ServerRequestBody.fuzzyWatchChange(requestId: id, serviceKey: key, changedType: changed)
        }
    }

    private func cancel(_ text: String) {
        guard let watch = watches.removeValue(forKey: text) else { return }
        index.cancel(watch.pattern, by: connectionId)
    }

    /// The connection is gone.
    func cancelAll() {
        for text in Array(watches.keys) { cancel(text) }
        for flight in inFlight.values { flight.timer?.cancel() }
        inFlight = [:]
    }
}
