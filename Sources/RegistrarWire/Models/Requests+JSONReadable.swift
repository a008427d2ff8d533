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

extension InstanceRequest: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init(namespace: nil, serviceName: nil, groupName: nil, type: nil, instance: nil)
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            case "namespace": namespace = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "groupName": groupName = try json.string(key)
            case "type": type = try json.string(key)
            case "instance": instance = try json.nested(InstanceBody.self, key)
            default: try json.skipValue()
            }
        }
    }
}

extension BatchInstanceRequest: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init(namespace: nil, serviceName: nil, groupName: nil, type: nil, instances: nil)
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            case "namespace": namespace = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "groupName": groupName = try json.string(key)
            case "type": type = try json.string(key)
            case "instances": instances = try json.nestedArray(InstanceBody.self, key)
            default: try json.skipValue()
            }
        }
    }
}

extension ServiceQueryRequest: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init(namespace: nil, serviceName: nil, groupName: nil)
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            case "namespace": namespace = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "groupName": groupName = try json.string(key)
            case "cluster": cluster = try json.string(key)
            case "healthyOnly": healthyOnly = try json.bool(key)
            case "udpPort": udpPort = try json.int(key)
            default: try json.skipValue()
            }
        }
    }
}

extension SubscribeServiceRequest: JSONReadable {
    init(json: inout JSONReader) throws(JSONReadError) {
        self.init(namespace: nil, serviceName: nil, groupName: nil, subscribe: false)
        subscribe = nil
        clusters = nil
        var object = try json.object()
        while let key = try json.nextKey(in: &object) {
            switch key {
            case "requestId": requestId = try json.string(key)
            case "namespace": namespace = try json.string(key)
            case "serviceName": serviceName = try json.string(key)
            case "groupName": groupName = try json.string(key)
            case "subscribe": subscribe = try json.bool(key)
            case "clusters": clusters = try json.string(key)
            default: try json.skipValue()
            }
        }
    }
}
