import RegistrarCore
import Testing

private let payments = ServiceKey(namespace: "public", group: nil, name: "payments")
private let ledger = ServiceKey(namespace: "public", group: nil, name: "ledger")

private func member(_ name: String) -> Registry {
    var registry = Registry(wallClock: { 1_000 })
    registry.enableReplication(member: name)
    return registry
}

private func datum(
    _ id: String, revision: UInt64, owner: String = "10.0.0.2:8848", _ publications: [ServiceKey: [Instance]]
) -> ClientDatum {
    ClientDatum(clientId: id, revision: revision, owner: owner, publications: publications)
}

@Suite("Distro on the registry: owned changes, replicas, leases")
struct ReplicationTests {
    @Test func ownedChangesAreCollectedOnceWithIncreasingRevisions() throws {
        var registry = member("a:1")
        registry.addClient("c1", kind: .connection)
        try registry.publish(client: "c1", service: payments, instances: [Instance(ip: "10.0.0.1", port: 80)])
        try registry.publish(client: "c1", service: ledger, instances: [Instance(ip: "10.0.0.1", port: 81)])
        let first = registry.takeReplicationChanges()
        #expect(first.changed.map(\.clientId) == ["c1"])
        #expect(first.changed.first?.publications.count == 2)
        #expect(first.changed.first?.owner == "a:1")
        #expect(registry.takeReplicationChanges().changed.isEmpty)

        let before = first.changed[0].revision
        registry.withdraw(client: "c1", service: ledger)
        let second = registry.takeReplicationChanges()
        #expect(second.changed.first.map { $0.revision > before } == true)
        #expect(registry.ownedDigest().map(\.clientId) == ["c1"])

        registry.removeClient("c1")
        let third = registry.takeReplicationChanges()
        #expect(third.changed.isEmpty)
        #expect(third.deleted.map(\.clientId) == ["c1"])
        #expect(third.deleted.first.map { $0.revision > second.changed[0].revision } == true)
    }

    @Test func clientsThatNeverPublishedAreNotReplicated() throws {
        var registry = member("a:1")
        registry.addClient("watcher", kind: .connection)
        try registry.subscribe(client: "watcher", service: payments)
        registry.removeClient("watcher")
        let changes = registry.takeReplicationChanges()
        #expect(changes.changed.isEmpty && changes.deleted.isEmpty)
        #expect(registry.ownedDigest().isEmpty)
    }

    @Test func replicasAreReplacedWholesaleAndOrderedByRevision() throws {
        var registry = member("a:1")
        let one = Instance(ip: "10.0.0.5", port: 80)
        let created = try registry.applyReplica(
            datum("r1", revision: 10, [payments: [one], ledger: [one]]), leaseUntil: 5_000)
        guard case .applied(let changed) = created else {
            Issue.record("expected the first datum to apply, got \(created)")
            return
        }
        #expect(Set(changed) == [payments, ledger])
        #expect(registry.snapshot(of: ledger).hosts.count == 1)
        // The next datum drops `ledger`: the replica becomes exactly the datum.
        let outcome = try registry.applyReplica(datum("r1", revision: 11, [payments: [one]]), leaseUntil: 5_000)
        #expect(outcome == .applied(changed: [ledger]))
        #expect(registry.snapshot(of: ledger).hosts.isEmpty)
        // Older and equal revisions change nothing (idempotent, ordered).
        #expect(try registry.applyReplica(datum("r1", revision: 9, [:]), leaseUntil: 5_000) == .stale)
        #expect(try registry.applyReplica(datum("r1", revision: 11, [:]), leaseUntil: 5_000) == .stale)
        #expect(registry.snapshot(of: payments).hosts.count == 1)
        // Replicas are not this member's to replicate.
        #expect(registry.takeReplicationChanges().changed.isEmpty)
        #expect(registry.ownedDigest().isEmpty)
        #expect(registry.replicationSnapshot().map(\.owner) == ["10.0.0.2:8848"])
    }

    @Test func aDeletionIsRememberedSoALateOlderDatumCannotResurrect() throws {
        var registry = member("a:1")
        _ = try registry.applyReplica(
            datum("r1", revision: 10, [payments: [Instance(ip: "10.0.0.5", port: 80)]]), leaseUntil: 5_000)
        #expect(
            registry.removeReplica(ClientDeletion(clientId: "r1", revision: 12), rememberUntil: 5_000) == [payments])
        #expect(
            try registry.applyReplica(
                datum("r1", revision: 11, [payments: [Instance(ip: "10.0.0.5", port: 80)]]), leaseUntil: 5_000)
                == .stale)
        #expect(registry.snapshot(of: payments).hosts.isEmpty)
        // Once the tombstone is forgotten, a genuinely newer datum is taken.
        _ = registry.expireReplicas(now: 6_000)
        #expect(
            try registry.applyReplica(
                datum("r1", revision: 13, [payments: [Instance(ip: "10.0.0.5", port: 80)]]), leaseUntil: 9_000)
                == .applied(changed: [payments]))
    }

    @Test func leasesExpireUnlessTheOwnersDigestRenewsThem() throws {
        var registry = member("a:1")
        let instance = Instance(ip: "10.0.0.5", port: 80)
        _ = try registry.applyReplica(datum("kept", revision: 5, [payments: [instance]]), leaseUntil: 2_000)
        _ = try registry.applyReplica(datum("dropped", revision: 5, [ledger: [instance]]), leaseUntil: 2_000)
        let resend = registry.renewReplicas(
            owner: "10.0.0.2:8848", digest: [("kept", 5), ("missing", 3), ("dropped", 6)], leaseUntil: 4_000
        )
        // Missing and stale clients are asked for again; only the current one is renewed.
        #expect(Set(resend) == ["missing", "dropped"])
        let expiry = registry.expireReplicas(now: 3_000)
        #expect(expiry.expired == ["dropped"])
        #expect(expiry.changed == [ledger])
        #expect(registry.snapshot(of: payments).hosts.count == 1)
        #expect(registry.expireReplicas(now: 4_001).expired == ["kept"])
        #expect(registry.snapshot(of: payments).hosts.isEmpty)
    }

    @Test func aReplicaThatBreaksTheNamingRulesIsRefusedWhole() {
        var registry = member("a:1")
        let bad = ServiceKey(namespace: "public", group: nil, name: "bad@@name")
        #expect(throws: RegistryError.self) {
            try registry.applyReplica(
                datum(
                    "r1", revision: 1,
                    [payments: [Instance(ip: "10.0.0.1", port: 80)], bad: [Instance(ip: "10.0.0.1", port: 80)]]),
                leaseUntil: 5_000)
        }
        #expect(!registry.hasClient("r1"))
        #expect(registry.snapshot(of: payments).hosts.isEmpty)
    }

    @Test func anIPPortClientMovesToTheMemberItsBeatsReach() throws {
        var here = member("a:1")
        let instance = Instance(ip: "10.0.0.9", port: 8080)
        let id = "10.0.0.9:8080#true"
        _ = try here.applyReplica(datum(id, revision: 7, [payments: [instance]]), leaseUntil: 5_000)
        // A beat reaches this member: it adopts the client and replicates it with a newer revision.
        _ = here.heartbeat(client: id, service: payments, now: 100)
        let adopted = here.takeReplicationChanges().changed
        #expect(adopted.map(\.clientId) == [id])
        #expect(adopted.first.map { $0.revision > 7 && $0.owner == "a:1" } == true)
        // A newer datum from another owner takes it back: this member stops owning it.
        let later = adopted[0].revision + 1
        #expect(
            try here.applyReplica(datum(id, revision: later, owner: "c:1", [payments: [instance]]), leaseUntil: 5_000)
                == .applied(changed: []))
        #expect(here.ownedDigest().isEmpty)
        #expect(here.replicationSnapshot().first?.owner == "c:1")
        // An older one cannot: the member that owns it keeps it.
        var owner = member("b:1")
        _ = try owner.publishBeating(instance, into: payments, now: 0)
        let revision = owner.ownedDigest()[0].revision
        #expect(
            try owner.applyReplica(datum(id, revision: revision - 1, [payments: []]), leaseUntil: 5_000) == .ownedHere)
    }

    @Test func aRestartedOwnersEarlierRunIsDroppedAtOnceAndCannotComeBack() throws {
        var registry = member("a:1")
        let one = Instance(ip: "10.0.0.5", port: 80)
        let peer = "10.0.0.2:8848"
        _ = try registry.applyReplica(datum("old", revision: 10, owner: peer, [payments: [one]]), leaseUntil: 5_000)
        _ = try registry.applyReplica(
            datum("new", revision: 30, owner: peer, [ledger: [Instance(ip: "10.0.0.6", port: 80)]]), leaseUntil: 5_000)
        _ = try registry.applyReplica(
            datum("other", revision: 10, owner: "c:1", [ledger: [Instance(ip: "10.0.0.7", port: 80)]]),
            leaseUntil: 5_000)
        registry.addClient("mine", kind: .connection)
        try registry.publish(client: "mine", service: ledger, instances: [Instance(ip: "10.0.0.8", port: 80)])

        let forgotten = registry.forgetEarlierRuns(of: peer, incarnation: 20)
        #expect(forgotten.removed == ["old"])
        #expect(forgotten.changed == [payments])
        #expect(registry.snapshot(of: payments).hosts.isEmpty)
        #expect(registry.snapshot(of: ledger).hosts.count == 3)
        // A snapshot from a peer that still holds the earlier run's client brings nothing back.
        #expect(
            try registry.applyReplica(datum("old2", revision: 19, owner: peer, [payments: [one]]), leaseUntil: 5_000)
                == .stale)
        #expect(registry.snapshot(of: payments).hosts.isEmpty)
        // The same incarnation again (the next probe) does nothing; its own revisions are newer.
        #expect(registry.forgetEarlierRuns(of: peer, incarnation: 20).removed.isEmpty)
        #expect(registry.incarnation > 0)
        registry.addClient("later", kind: .connection)
        try registry.publish(client: "later", service: payments, instances: [one])
        #expect(registry.ownedDigest().allSatisfy { $0.revision > registry.incarnation })
    }
}

@Suite("Members: states and the responsibility hash")
struct MemberTableTests {
    @Test func addressesParseWithAndWithoutPorts() {
        #expect(MemberAddress(parsing: " 10.0.0.1:8848 ") == MemberAddress(host: "10.0.0.1", port: 8848))
        #expect(MemberAddress(parsing: "node-2") == MemberAddress(host: "node-2", port: 8848))
        #expect(MemberAddress(parsing: "[::1]:9000")?.description == "[::1]:9000")
        for bad in ["", ":8848", "host:0", "host:70000", "host:x", "a b:1"] {
            #expect(MemberAddress(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func probesMoveMembersThroughSuspiciousToDownAndBack() {
        let me = MemberAddress(host: "10.0.0.1", port: 8848)
        let peer = MemberAddress(host: "10.0.0.2", port: 8848)
        var table = MemberTable(me: me, members: [me, peer], downAfter: 3)
        #expect(table.state(of: peer) == .suspicious)
        #expect(table.recordProbe(of: peer, succeeded: true, now: 1) == .up)
        #expect(table.recordProbe(of: peer, succeeded: false, now: 2) == .suspicious)
        #expect(table.recordProbe(of: peer, succeeded: false, now: 3) == nil)
        #expect(table.healthyMembers == [me, peer])
        #expect(table.recordProbe(of: peer, succeeded: false, now: 4) == .down)
        #expect(table.healthyMembers == [me])
        #expect(table.recordProbe(of: peer, succeeded: true, now: 5) == .up)
        #expect(table.recordProbe(of: me, succeeded: false, now: 6) == nil)
    }

    @Test func responsibilityFollowsJavasStringHashOverSortedHealthyMembers() {
        // Values from Java: "127.0.0.1:8080".hashCode() == -35736627, "10.0.0.7:30001".hashCode() == 1621379174.
        #expect(MemberTable.javaHashCode("127.0.0.1:8080") == -35_736_627)
        #expect(MemberTable.javaHashCode("10.0.0.7:30001") == 1_621_379_174)
        let members = ["10.0.0.3:8848", "10.0.0.1:8848", "10.0.0.2:8848"].map { MemberAddress(parsing: $0)! }
        let table = MemberTable(me: members[1], members: members)
        #expect(table.responsible(for: "127.0.0.1:8080").description == "10.0.0.1:8848")
        #expect(table.responsible(for: "10.0.0.7:30001").description == "10.0.0.3:8848")
    }
}
