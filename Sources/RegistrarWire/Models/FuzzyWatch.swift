/// Naming fuzzy watch (Nacos 3.x): the client's `NamingFuzzyWatchRequest` and the bodies of
/// the server's `NamingFuzzyWatchSyncRequest` and `NamingFuzzyWatchChangeNotifyRequest`.
/// Field names are Nacos's (Jackson names: `initializing`, not the Java field `isInitializing`).
public enum FuzzyWatch {
    public static let watch = "WATCH"
    public static let cancelWatch = "CANCEL_WATCH"

    /// `syncType` values.
    public enum SyncType: String, Sendable {
        case initNotify = "FUZZY_WATCH_INIT_NOTIFY"
        case finishInitNotify = "FINISH_FUZZY_WATCH_INIT_NOTIFY"
        case diffSyncNotify = "FUZZY_WATCH_DIFF_SYNC_NOTIFY"
        case resourceChanged = "FUZZY_WATCH_RESOURCE_CHANGED"
    }

    /// `changedType` values.
    public enum ChangedType: String, Sendable {
        case addService = "ADD_SERVICE"
        case deleteService = "DELETE_SERVICE"
    }

    /// Services per sync push, as in Nacos.
    public static let batchSize = 10
}

/// `NamingFuzzyWatchRequest`: watch (or stop watching) the services a pattern matches.
public struct NamingFuzzyWatchRequest: Codable, Sendable, IdentifiedRequest {
    public var requestId: String?
    public var namespace: String?
    public var groupKeyPattern: String?
    /// The `namespace@@group@@service` keys the client already holds for the pattern.
    public var receivedGroupKeys: [String]?
    public var watchType: String?
    /// True until the client has seen `FINISH_FUZZY_WATCH_INIT_NOTIFY` for the pattern.
    public var initializing: Bool?
    /// The Java field name, which some ports send instead.
    public var isInitializing: Bool?

    public init(
        namespace: String?, groupKeyPattern: String, receivedGroupKeys: [String] = [],
        watchType: String = FuzzyWatch.watch,
        initializing: Bool = true
    ) {
        self.namespace = namespace
        self.groupKeyPattern = groupKeyPattern
        self.receivedGroupKeys = receivedGroupKeys
        self.watchType = watchType
        self.initializing = initializing
    }
}

extension ServerRequestBody {
    /// `NamingFuzzyWatchSyncRequest`: one batch of a sync round (`contexts` empty for FINISH).
    public static func fuzzyWatchSync(
        requestId: String, pattern: String, syncType: FuzzyWatch.SyncType,
        contexts: [(serviceKey: String, changedType: FuzzyWatch.ChangedType)], totalBatch: Int, currentBatch: Int
    ) -> [UInt8] {
        var json = JSONWriter(capacity: 192 + contexts.count * 96)
        json.beginObject()
        json.key("headers"); json.beginObject(); json.endObject()
        json.key("requestId"); json.string(requestId)
        json.key("module"); json.string("naming")
        json.key("syncType"); json.string(syncType.rawValue)
        json.key("groupKeyPattern"); json.string(pattern)
        json.key("contexts"); json.beginArray()
        for context in contexts {
            json.beginObject()
            json.key("serviceKey"); json.string(context.serviceKey)
            json.key("changedType"); json.string(context.changedType.rawValue)
            json.endObject()
        }
        json.endArray()
        json.key("totalBatch"); json.int(totalBatch)
        json.key("currentBatch"); json.int(currentBatch)
        json.endObject()
        return json.bytes
    }

    /// `NamingFuzzyWatchChangeNotifyRequest`: a service came into, or left, what the
    /// connection's patterns match (the pattern is not named; the client matches the key).
    public static func fuzzyWatchChange(
        requestId: String, serviceKey: String, changedType: FuzzyWatch.ChangedType
    ) -> [UInt8] {
        var json = JSONWriter(capacity: 192)
        json.beginObject()
        json.key("headers"); json.beginObject(); json.endObject()
        json.key("requestId"); json.string(requestId)
        json.key("module"); json.string("naming")
        json.key("syncType"); json.string(FuzzyWatch.SyncType.resourceChanged.rawValue)
        json.key("serviceKey"); json.string(serviceKey)
        json.key("changedType"); json.string(changedType.rawValue)
        json.endObject()
        return json.bytes
    }
}
