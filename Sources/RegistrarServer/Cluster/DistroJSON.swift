import Foundation
import RegistrarCore
import RegistrarWire

/// The JSON bodies of the cluster protocol (Distro sync, verify and snapshot chunks), before
/// compression. See `docs/cluster.md` for the contract.
///
/// Encoding writes bytes directly (no reflection); decoding goes through `Codable` and fails
/// with a `WireError` naming what was wrong.
public enum DistroJSON {
    /// The one resource type Registrar replicates: naming clients with their instances.
    public static let clientDataType = "Registrar:Naming:ClientData"

    /// A batch of datums and deletions: the body of a sync, and of each snapshot chunk.
    public struct Batch: Sendable, Equatable {
        public var data: [ClientDatum]
        public var deleted: [ClientDeletion]

        public init(data: [ClientDatum] = [], deleted: [ClientDeletion] = []) {
            self.data = data
            self.deleted = deleted
        }
    }

    public static func encode(_ batch: Batch) -> [UInt8] {
        var json = JSONWriter(capacity: 64 + batch.data.reduce(0) { $0 + 128 + $1.instanceCount * 200 })
        json.beginObject()
        json.key("data"); json.beginArray()
        for datum in batch.data { encode(datum, into: &json) }
        json.endArray()
        json.key("deleted"); json.beginArray()
        for deletion in batch.deleted {
            json.beginObject()
            json.key("clientId"); json.string(deletion.clientId)
            json.key("revision"); json.int(deletion.revision)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func encode(_ datum: ClientDatum, into json: inout JSONWriter) {
        json.beginObject()
        json.key("clientId"); json.string(datum.clientId)
        json.key("revision"); json.int(datum.revision)
        json.key("owner"); json.string(datum.owner)
        json.key("services"); json.beginArray()
        for (service, instances) in datum.publications {
            json.beginObject()
            json.key("namespace"); json.string(service.namespace)
            json.key("group"); json.string(service.group)
            json.key("name"); json.string(service.name)
            json.key("instances"); json.beginArray()
            for instance in instances {
                json.beginObject()
                json.instanceFields(instance)
                if let id = instance.customInstanceId { json.key("instanceId"); json.string(id) }
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }

    public static func decodeBatch(_ bytes: Data) throws(WireError) -> Batch {
        let body = try decode(BatchBody.self, bytes, type: "Distro batch")
        var data: [ClientDatum] = []
        data.reserveCapacity(body.data.count)
        for datum in body.data {
            var publications: [ServiceKey: [Instance]] = [:]
            for service in datum.services {
                let key = ServiceKey(namespace: service.namespace, group: service.group, name: service.name)
                publications[key] = service.instances.map {
                    Instance(
                        ip: $0.ip, port: $0.port, weight: $0.weight, healthy: $0.healthy, enabled: $0.enabled,
                        clusterName: $0.clusterName, metadata: $0.metadata, customInstanceId: $0.instanceId
                    )
                }
            }
            data.append(
                ClientDatum(
                    clientId: datum.clientId, revision: datum.revision, owner: datum.owner, publications: publications))
        }
        return Batch(
            data: data, deleted: body.deleted.map { ClientDeletion(clientId: $0.clientId, revision: $0.revision) })
    }

    /// A verify digest: the (clientId, revision) of clients the sender owns, as parallel arrays.
    public struct Digest: Codable, Sendable, Equatable {
        public var clientIds: [String]
        public var revisions: [UInt64]

        public init(_ entries: some Sequence<(clientId: ClientID, revision: UInt64)>) {
            clientIds = []
            revisions = []
            for entry in entries {
                clientIds.append(entry.clientId)
                revisions.append(entry.revision)
            }
        }

        public var entries: [(clientId: ClientID, revision: UInt64)] {
            Array(zip(clientIds, revisions)).map { ($0.0, $0.1) }
        }
    }

    /// The answer to a digest: the clients the receiver lacks or holds stale.
    public struct Resend: Codable, Sendable, Equatable {
        public var clientIds: [String]

        public init(clientIds: [String]) { self.clientIds = clientIds }
    }

    public static func encode<Body: Encodable>(_ body: Body) -> [UInt8] {
        // Encoding plain arrays of strings and integers cannot fail.
        (try? Array(JSONEncoder().encode(body))) ?? []
    }

    public static func decodeDigest(_ bytes: Data) throws(WireError) -> Digest {
        let digest = try decode(Digest.self, bytes, type: "Distro digest")
        guard digest.clientIds.count == digest.revisions.count else {
            throw .malformedBody(
                type: "Distro digest",
                detail: "\(digest.clientIds.count) client ids but \(digest.revisions.count) revisions")
        }
        return digest
    }

    public static func decodeResend(_ bytes: Data) throws(WireError) -> Resend {
        try decode(Resend.self, bytes, type: "Distro resend")
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ bytes: Data, type name: String) throws(WireError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch {
            throw .malformedBody(type: name, detail: String(describing: error))
        }
    }

    private struct BatchBody: Decodable {
        var data: [DatumBody]
        var deleted: [DeletionBody]
    }

    private struct DatumBody: Decodable {
        var clientId: String
        var revision: UInt64
        var owner: String
        var services: [ServiceBody]
    }

    private struct ServiceBody: Decodable {
        var namespace: String
        var group: String
        var name: String
        var instances: [InstanceEntry]
    }

    private struct InstanceEntry: Decodable {
        var ip: String
        var port: Int
        var weight: Double
        var healthy: Bool
        var enabled: Bool
        var clusterName: String
        var instanceId: String?
        var metadata: [String: String]
    }

    private struct DeletionBody: Decodable {
        var clientId: String
        var revision: UInt64
    }
}
