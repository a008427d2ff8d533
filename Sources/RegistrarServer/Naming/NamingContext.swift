import RegistrarCore

/// What both fronts need to serve naming: the registry, its naming rules, durable writes, and
/// where the changes go. Built once by the composition root.
///
/// Threading: thread-safe; every member is.
struct NamingContext: Sendable {
    let store: RegistryStore
    /// The naming rules (the registry applies the same ones to writes).
    let validation: Validation
    /// Durable writes (persistent instances, service metadata, namespaces), group-committed.
    let durable: DurableWriter
    let changes: ChangeNotifier

    /// Runs a durable write and, once it is on disk and in the registry, pushes what it changed.
    func write(_ write: DurableWrite) async throws(RegistryError) {
        changes.servicesChanged(try await durable.submit(write))
    }

    /// Runs a registry mutation under the lock and pushes what it changed.
    @discardableResult
    func mutate<E: Error>(_ body: (inout Registry) throws(E) -> [ServiceKey]) throws(E) -> [ServiceKey] {
        let changed = try store.withRegistry(body)
        changes.servicesChanged(changed)
        return changed
    }

    /// Runs a registry mutation that also returns a value, and pushes what it changed.
    func mutateReturning<T, E: Error>(_ body: (inout Registry) throws(E) -> (changed: [ServiceKey], value: T))
        throws(E) -> T
    {
        var value: T?
        try mutate { (registry) throws(E) in
            let result = try body(&registry)
            value = result.value
            return result.changed
        }
        return value!
    }
}
