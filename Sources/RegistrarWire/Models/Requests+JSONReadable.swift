// The request bodies every client sends all the time, read by `JSONReader` (see there for why).
// Keys and types mirror the `Codable` declarations in Requests.swift and ClientModels.swift.

extension ServerRequestFields: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init()
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            default: try json.skipValue()
            }
        }
    }
}

extension InstanceBody: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init()
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "instanceId": instanceId = try json.string(key)
            case "ip": ip = try json.string(key)
            case "port": port = try json.int(key)
            case "weight": weight = try json.double(key)
            case "healthy": healthy = try json.bool(key)
            case "enabled": enabled = try json.bool(key)
            case "ephemeral": ephemeral = try json.bool(key)
            case "clusterName": clusterName = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "metadata": metadata = try json.stringMap(key)
            default: try json.skipValue()
            }
        }
    }
}

/// A naming request read by `JSONReader`: the fields every naming request has are read here,
/// the type reads its own.
protocol ReadableNamingRequest: JSONReadable {
    /// Every field absent.
    init()
    var requestId: String? { get set }
    var namespace: String? { get set }
    var serviceName: String? { get set }
    var groupName: String? { get set }
    /// Reads `key` if it is one of the type's own fields; false if it is not.
    mutating func readField(_ key: JSONKey, from json: inout JSONReader) throws(JSONReadError) -> Bool
}

extension ReadableNamingRequest {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init()
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            case "namespace": namespace = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "groupName": groupName = try json.string(key)
            default: if try !readField(key, from: &json) { try json.skipValue() }
            }
        }
    }
}

extension InstanceRequest: ReadableNamingRequest {
    init() { self.init(namespace: nil, serviceName: nil, groupName: nil, type: nil, instance: nil) }

    mutating func readField(_ key: JSONKey, from json: inout JSONReader) throws(JSONReadError) -> Bool {
        switch key {
        case "type": type = try json.string(key)
        case "instance": instance = try json.nested(InstanceBody.self, key)
        default: return false
        }
        return true
    }
}

extension BatchInstanceRequest: ReadableNamingRequest {
    init() { self.init(namespace: nil, serviceName: nil, groupName: nil, type: nil, instances: nil) }

    mutating func readField(_ key: JSONKey, from json: inout JSONReader) throws(JSONReadError) -> Bool {
        switch key {
        case "type": type = try json.string(key)
        case "instances": instances = try json.nestedArray(InstanceBody.self, key)
        default: return false
        }
        return true
    }
}

extension ServiceQueryRequest: ReadableNamingRequest {
    init() { self.init(namespace: nil, serviceName: nil, groupName: nil) }

    mutating func readField(_ key: JSONKey, from json: inout JSONReader) throws(JSONReadError) -> Bool {
        switch key {
        case "cluster": cluster = try json.string(key)
        case "healthyOnly": healthyOnly = try json.bool(key)
        case "udpPort": udpPort = try json.int(key)
        default: return false
        }
        return true
    }
}

extension SubscribeServiceRequest: ReadableNamingRequest {
    init() {
        self.init(namespace: nil, serviceName: nil, groupName: nil, subscribe: false)
        subscribe = nil
        clusters = nil
    }

    mutating func readField(_ key: JSONKey, from json: inout JSONReader) throws(JSONReadError) -> Bool {
        switch key {
        case "subscribe": subscribe = try json.bool(key)
        case "clusters": clusters = try json.string(key)
        default: return false
        }
        return true
    }
}
