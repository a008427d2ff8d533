import Foundation
import RegistrarCore

/// The operator-only instance operations of the v2 and v3 APIs: batch metadata and health marks.
extension InstanceOperations {
    private struct InstanceRef: Decodable {
        var ip: String
        var port: Int
        var clusterName: String?
    }

    /// `PUT|DELETE …/instance/metadata/batch`: merges `metadata` into (`merge`), or removes its
    /// keys from, the instances listed in `instances` (a JSON array of `{ip, port, clusterName}`;
    /// absent or `[]`: every instance of the service). The edit is an operator overlay, like a
    /// v1 `PATCH`. Returns the instances changed, as `ip:port:ephemeral|persist:cluster`, in
    /// one registry transaction: either all named instances exist and change, or none do.
    func batchMetadata(_ parameters: V1Parameters, merge: Bool) throws -> [String] {
        let service = try parameters.service(validation: naming.validation)
        guard let metadata = try parameters.metadata() else { throw V1Error.missing("metadata") }
        var refs: [InstanceRef] = []
        if let text = parameters.optional("instances") {
            guard let decoded = try? JSONDecoder().decode([InstanceRef].self, from: Data(text.utf8)) else {
                throw V1Error.illegal(
                    "instances", "expected a JSON array of {\"ip\",\"port\",\"clusterName\"}, got \(text)")
            }
            refs = decoded
        }
        let persistent = parameters.optional("consistencyType")?.lowercased() == "persist"
        return try naming.mutateReturning { (registry) throws(RegistryError) in
            let targets =
                refs.isEmpty
                ? registry.snapshot(of: service).hosts.map {
                    InstanceAddress(ip: $0.instance.ip, port: $0.instance.port, cluster: $0.instance.clusterName)
                }
                : refs.map {
                    InstanceAddress(ip: $0.ip, port: $0.port, cluster: $0.clusterName ?? Instance.defaultCluster)
                }
            // Check every target first, so that a missing one changes nothing.
            var edits: [(InstanceAddress, [String: String])] = []
            for address in targets {
                let current = try registry.instance(
                    in: service, ip: address.ip, port: address.port, cluster: address.cluster)
                var edited = current.metadata
                if merge {
                    edited.merge(metadata) { _, new in new }
                } else {
                    for key in metadata.keys { edited.removeValue(forKey: key) }
                }
                edits.append((address, edited))
            }
            var changed: [ServiceKey] = []
            for (address, edited) in edits {
                changed += try registry.patchInstance(
                    service, at: address, weight: nil, enabled: nil, metadata: edited)
            }
            let type = persistent ? "persist" : "ephemeral"
            let keys = edits.map { "\($0.0.ip):\($0.0.port):\(type):\($0.0.cluster)" }
            return (Array(Set(changed)), keys)
        }
    }

    /// `PUT …/health/instance`: marks a persistent instance of an unprobed cluster healthy or not.
    func markHealth(_ parameters: V1Parameters) throws {
        let service = try parameters.service(validation: naming.validation)
        let address = try address(parameters, legacyCluster: false)
        guard parameters.optional("healthy") != nil else { throw V1Error.missing("healthy") }
        let healthy = parameters.bool("healthy", default: true)
        let target = Registry.ProbeTarget(
            service: service, ip: address.ip, port: address.port, cluster: address.cluster)
        try naming.mutate { (registry) throws(RegistryError) in try registry.markHealth(of: target, healthy: healthy) }
    }
}
