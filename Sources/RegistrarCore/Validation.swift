/// The naming rules every front applies before a command reaches the registry.
///
/// They follow Nacos 2.x's parameter check (lengths and character sets) so that what Nacos
/// accepts is accepted here, with two deliberate differences, both documented in
/// docs/protocol.md: weights must lie in 0...10000 over gRPC too, and cluster names may contain
/// `_` on every path (Nacos refuses it on single registration only).
public struct Validation: Sendable {
    public var maximumMetadataLength = 1024
    public var maximumInstancesPerBatch = 10_000

    public init() {}

    public func check(service: ServiceKey) throws(RegistryError) {
        try checkNamespace(service.namespace)
        try checkGroup(service.group)
        try checkServiceName(service.name)
    }

    public func checkNamespace(_ namespace: String) throws(RegistryError) {
        guard namespace.utf8.count <= 64 else {
            throw .paramCheck("Param 'namespaceId/tenant' is illegal, the param length should not exceed 64.")
        }
        guard namespace.utf8.allSatisfy({ $0.isWordCharacter || $0 == UInt8(ascii: "-") }) else {
            throw .paramCheck(
                "Param 'namespaceId/tenant' is illegal, illegal characters should not appear in the param.")
        }
    }

    public func checkGroup(_ group: String) throws(RegistryError) {
        guard group.utf8.count <= 128 else {
            throw .paramCheck("Param 'group' is illegal, the param length should not exceed 128.")
        }
        guard group.utf8.allSatisfy({ $0.isAlphanumeric || "-_:.".utf8.contains($0) }) else {
            throw .paramCheck("Param 'group' is illegal, illegal characters should not appear in the param.")
        }
    }

    public func checkServiceName(_ name: String) throws(RegistryError) {
        guard !name.isEmpty else {
            throw .paramCheck("Param 'serviceName' is illegal, serviceName is blank")
        }
        guard name.utf8.count <= 512 else {
            throw .paramCheck("Param 'serviceName' is illegal, the param length should not exceed 512.")
        }
        guard !name.hasPrefix("@"), !name.contains("@@"), !containsForbiddenCharacters(name) else {
            throw .paramCheck("Param 'serviceName' is illegal, illegal characters should not appear in the param.")
        }
    }

    /// Checks a comma-separated cluster list (`""` means all clusters).
    public func checkClusters(_ clusters: String) throws(RegistryError) {
        for cluster in clusters.split(separator: ",", omittingEmptySubsequences: true) {
            try checkCluster(String(cluster))
        }
    }

    public func checkCluster(_ cluster: String) throws(RegistryError) {
        guard cluster.utf8.count <= 64 else {
            throw .paramCheck("Param 'cluster' is illegal, the param length should not exceed 64.")
        }
        guard cluster.utf8.allSatisfy({ $0.isAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            throw .paramCheck("Param 'cluster' is illegal, illegal characters should not appear in the param.")
        }
    }

    public func check(instance: Instance) throws(RegistryError) {
        guard !instance.ip.isEmpty else { throw .paramCheck("Param 'ip' is illegal, ip is blank") }
        guard instance.ip.utf8.count <= 128 else {
            throw .paramCheck("Param 'ip' is illegal, the param length should not exceed 128.")
        }
        guard !containsForbiddenCharacters(instance.ip) else {
            throw .paramCheck("Param 'ip' is illegal, illegal characters should not appear in the param.")
        }
        guard (0...65535).contains(instance.port) else {
            throw .paramCheck("Param 'port' is illegal, the value should be between 0 and 65535.")
        }
        guard instance.weight.isFinite, (0...10000).contains(instance.weight) else {
            throw .paramCheck("Param 'weight' is illegal, the value should be between 0 and 10000.")
        }
        try checkCluster(instance.clusterName)
        try checkMetadata(instance.metadata)
        try checkHeartbeatMetadata(instance.metadata)
    }

    /// The total length of keys and values is bounded.
    public func checkMetadata(_ metadata: [String: String]) throws(RegistryError) {
        let metadataLength = metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard metadataLength <= maximumMetadataLength else {
            throw .paramCheck(
                "Param 'Metadata' is illegal, the param length should not exceed \(maximumMetadataLength).")
        }
    }

    /// Nacos's rule on the preserved heartbeat keys: timeout and delete timeout are not shorter
    /// than the interval.
    func checkHeartbeatMetadata(_ metadata: [String: String]) throws(RegistryError) {
        let timing = HeartbeatTiming(metadata: metadata)
        guard timing.timeout >= timing.interval, timing.deleteTimeout >= timing.interval else {
            throw .invalidParameter(
                "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.")
        }
    }

    /// Whitespace or CJK ideographs. Names are nearly always ASCII, so that case avoids the
    /// (measurably slow) Unicode property lookup.
    private func containsForbiddenCharacters(_ text: String) -> Bool {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            return text.utf8.contains { $0 == 0x20 || (0x09...0x0D).contains($0) }
        }
        return text.unicodeScalars.contains(where: \.isForbiddenInNames)
    }

    public func check(batch instances: [Instance]) throws(RegistryError) {
        guard instances.count <= maximumInstancesPerBatch else {
            throw .paramCheck(
                "Param 'instances' is illegal, a batch holds at most \(maximumInstancesPerBatch) instances.")
        }
        for instance in instances { try check(instance: instance) }
    }
}

/// The metadata keys Nacos reserves for per-instance heartbeat settings, with their defaults (ms).
public enum PreservedMetadata {
    public static let heartbeatInterval = "preserved.heart.beat.interval"
    public static let heartbeatTimeout = "preserved.heart.beat.timeout"
    public static let ipDeleteTimeout = "preserved.ip.delete.timeout"
    public static let instanceIdGenerator = "preserved.instance.id.generator"
    public static let defaultHeartbeatInterval: Int64 = 5000
    public static let defaultHeartbeatTimeout: Int64 = 15000
    public static let defaultIPDeleteTimeout: Int64 = 30000
}

/// An instance's heartbeat timing (ms): from its preserved metadata, else Nacos's 5/15/30 s.
/// Non-numeric values are ignored, as in Nacos.
public struct HeartbeatTiming: Sendable, Equatable {
    public var interval: Int64
    public var timeout: Int64
    public var deleteTimeout: Int64

    public init(metadata: [String: String]) {
        interval =
            metadata[PreservedMetadata.heartbeatInterval].flatMap { Int64($0) }
            ?? PreservedMetadata.defaultHeartbeatInterval
        timeout =
            metadata[PreservedMetadata.heartbeatTimeout].flatMap { Int64($0) }
            ?? PreservedMetadata.defaultHeartbeatTimeout
        deleteTimeout =
            metadata[PreservedMetadata.ipDeleteTimeout].flatMap { Int64($0) }
            ?? PreservedMetadata.defaultIPDeleteTimeout
    }
}

extension UInt8 {
    fileprivate var isAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }

    fileprivate var isWordCharacter: Bool { isAlphanumeric || self == UInt8(ascii: "_") }
}

extension Unicode.Scalar {
    /// Whitespace and CJK unified ideographs (U+4E00–U+9FA5), which Nacos refuses in names and IPs.
    fileprivate var isForbiddenInNames: Bool {
        properties.isWhitespace || (0x4E00...0x9FA5).contains(value)
    }
}
