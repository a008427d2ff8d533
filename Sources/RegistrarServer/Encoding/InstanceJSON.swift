import RegistrarCore
import RegistrarWire

extension JSONWriter {
    /// The fields every instance shape carries (query and push hosts, the v1 instance detail,
    /// Distro replication), written in one place so that the shapes cannot drift apart.
    /// Callers open the object and add the fields of their own shape around these.
    mutating func instanceFields(_ instance: Instance) {
        key("ip"); string(instance.ip)
        key("port"); int(instance.port)
        key("weight"); double(instance.weight)
        key("healthy"); bool(instance.healthy)
        key("enabled"); bool(instance.enabled)
        key("clusterName"); string(instance.clusterName)
        key("metadata"); stringMap(instance.metadata)
    }
}
