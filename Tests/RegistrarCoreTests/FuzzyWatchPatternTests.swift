import RegistrarCore
import Testing

@Suite("Fuzzy watch patterns")
struct FuzzyWatchPatternTests {
    let orders = ServiceKey(namespace: "public", group: "DEFAULT_GROUP", name: "orders-api")

    @Test(arguments: [
        ("public>>DEFAULT_GROUP>>orders-api", true),
        ("public>>DEFAULT_GROUP>>orders-*", true),
        ("public>>DEFAULT_GROUP>>*-api", true),
        ("public>>DEFAULT_GROUP>>*ders*", true),
        ("public>>*>>*", true),
        (">>DEFAULT*>>*", true),  // a blank namespace is public
        ("public>>DEFAULT_GROUP>>orders", false),
        ("public>>DEFAULT_GROUP>>payments-*", false),
        ("public>>DEFAULT_GROUP>>*-web", false),
        ("public>>OTHER>>*", false),
        ("prod>>*>>*", false),  // the namespace is exact
    ])
    func matching(_ text: String, _ expected: Bool) throws {
        #expect(try FuzzyWatchPattern(text).matches(orders) == expected)
    }

    @Test(arguments: [
        "", "public", "public>>*", "public>>*>>*>>*", "public>>>>x", "public>>*>>", "public>>a*b>>x", "public>>*>>**",
        "public>>*>>a**",
    ])
    func illegalPatternsAreRefusedWithTheReason(_ text: String) {
        #expect {
            try FuzzyWatchPattern(text)
        } throws: { error in
            (error as? RegistryError)?.code == 400 && (error as? RegistryError)?.message.contains("is illegal") == true
        }
    }

    @Test func matchesReportServicesWithPublishersOnlyInOrderUpToTheLimit() throws {
        var registry = Registry(wallClock: { 1_000 })
        registry.addClient("c1", kind: .connection)
        for name in ["b-2", "b-1", "b-3"] {
            _ = try registry.publish(
                client: "c1", service: ServiceKey(namespace: nil, group: nil, name: name),
                instances: [Instance(ip: "10.0.0.1", port: 80)])
        }
        try registry.createService(ServiceKey(namespace: nil, group: nil, name: "b-empty"), metadata: ServiceMetadata())
        let pattern = try FuzzyWatchPattern("public>>DEFAULT_GROUP>>b-*")
        let all = registry.fuzzyMatches(pattern, limit: 10)
        #expect(all.services.map(\.name) == ["b-1", "b-2", "b-3"] && !all.truncated)
        let cut = registry.fuzzyMatches(pattern, limit: 2)
        #expect(cut.services.map(\.name) == ["b-1", "b-2"] && cut.truncated)
        #expect(FuzzyWatchPattern.serviceKey(all.services[0]) == "public@@DEFAULT_GROUP@@b-1")
    }
}
