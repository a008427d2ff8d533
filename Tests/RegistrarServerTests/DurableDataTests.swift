import Foundation
import RegistrarClient
import RegistrarServer
import RegistrarStorage
import RegistrarTesting
import RegistrarWire
import Testing

/// Persistent instances, service metadata and namespaces in the SQLite data file: written
/// through gRPC and HTTP, present after a restart, and refused cleanly when they are wrong or
/// the disk refuses them.
@Suite("Durable data (SQLite)", .stopsWhatItStarts)
struct DurableDataTests {
    static func dataDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("registrar-durable-\(UUID().uuidString)").path
    }

    /// A server on `directory` whose health checks stay out of the way (they have their own tests).
    static func server(_ directory: String, _ tune: @escaping (inout ServerConfiguration) -> Void = { _ in })
        async throws -> TestServer
    {
        try await TestServer.start { configuration in
            configuration.dataDirectory = directory
            configuration.healthCheckInterval = .hours(1)
            tune(&configuration)
        }
    }

    @Test func persistentDataWrittenThroughGRPCAndHTTPSurvivesDisconnectAndRestart() async throws {
        let directory = Self.dataDirectory()
        var server = try await Self.server(directory)
        let connection = try await server.connect()
        let reply = try await connection.persistent(
            "registerInstance", "db", ip: "127.0.0.1", port: 5432, metadata: ["role": "primary"])
        #expect(reply.resultCode == 200, "\(reply)")
        #expect(
            try await server.http.register("db", ip: "127.0.0.2", port: 5432, [("ephemeral", "false")]).body == "ok")
        #expect(
            try await server.http.call(
                "POST", "/nacos/v1/ns/service",
                [
                    ("serviceName", "cache"), ("protectThreshold", "0.4"), ("metadata", #"{"team":"core"}"#),
                    ("ephemeral", "false"),
                ]
            ).body == "ok")
        #expect(
            try await server.http.call(
                "POST", "/nacos/v1/console/namespaces",
                [("customNamespaceId", "dev"), ("namespaceName", "Development")]
            ).body == "true")
        #expect(
            try await server.http.call(
                "PUT", "/nacos/v1/ns/cluster",
                [
                    ("serviceName", "db"), ("clusterName", "DEFAULT"),
                    ("healthChecker", #"{"type":"HTTP","path":"/ready"}"#),
                ]
            ).body == "ok")
        // The owning connection goes: persistent instances stay.
        await connection.close()
        let running = server
        #expect(try await eventually { try await running.metric("grpcConnectionCount") == 0 })
        #expect(try await server.http.list("db").hosts.count == 2)
        await server.stop()

        server = try await Self.server(directory)
        let hosts = try await server.http.list("db").hosts
        #expect(hosts.compactMap { $0["ip"] as? String }.sorted() == ["127.0.0.1", "127.0.0.2"])
        #expect(hosts.allSatisfy { $0["ephemeral"] as? Bool == false })
        #expect(
            hosts.first { $0["ip"] as? String == "127.0.0.1" }?["metadata"] as? [String: String] == ["role": "primary"])
        let cache = try await server.http.call("GET", "/nacos/v1/ns/service", [("serviceName", "cache")]).object
        #expect(
            cache["protectThreshold"] as? Double == 0.4 && cache["metadata"] as? [String: String] == ["team": "core"])
        let db = try await server.http.call("GET", "/nacos/v1/ns/service", [("serviceName", "db")]).object
        let checker = (db["clusters"] as? [[String: Any]])?.first?["healthChecker"] as? [String: Any]
        #expect(checker?["type"] as? String == "HTTP" && checker?["path"] as? String == "/ready")
        let namespaces =
            try await server.http.call("GET", "/nacos/v1/console/namespaces").object["data"] as? [[String: Any]]
        #expect(namespaces?.compactMap { $0["namespace"] as? String } == ["", "dev"])

        // Deregistering through gRPC is durable too.
        let again = try await server.connect()
        #expect(try await again.persistent("deregisterInstance", "db", ip: "127.0.0.1", port: 5432).resultCode == 200)
        await server.stop()
        server = try await Self.server(directory)
        #expect(try await server.http.list("db").hosts.compactMap { $0["ip"] as? String } == ["127.0.0.2"])
    }

    @Test func wrongKindsAndUnprobeableAddressesAreRefusedAndNothingIsStored() async throws {
        let directory = Self.dataDirectory()
        var server = try await Self.server(directory)
        let http = server.http
        try await http.register("web", ip: "10.1.0.1", port: 80)
        let intoEphemeral = try await http.register("web", ip: "127.0.0.1", port: 80, [("ephemeral", "false")])
        #expect(
            intoEphemeral.status == 400
                && intoEphemeral.body.contains(
                    "Current service DEFAULT_GROUP@@web is ephemeral service, can't register persistent instance.")
        )
        #expect(try await http.register("db", ip: "127.0.0.1", port: 5432, [("ephemeral", "false")]).body == "ok")
        let intoPersistent = try await http.register("db", ip: "10.1.0.2", port: 5432)
        #expect(
            intoPersistent.status == 400
                && intoPersistent.body.contains("is persistent service, can't register ephemeral instance."))
        let hostName = try await http.register("db", ip: "db.example.com", port: 5432, [("ephemeral", "false")])
        #expect(hostName.status == 400 && hostName.body.contains("needs an IPv4 or IPv6 address"))
        let portZero = try await http.register("db", ip: "127.0.0.3", port: 0, [("ephemeral", "false")])
        #expect(portZero.status == 400 && portZero.body.contains("port from 1 to 65535"))

        let connection = try await server.connect()
        let grpcWrongKind = try await connection.persistent("registerInstance", "web", ip: "127.0.0.4", port: 80)
        #expect(grpcWrongKind.errorCode == 400 && grpcWrongKind.message?.contains("is ephemeral service") == true)
        let grpcBadIP = try await connection.persistent("registerInstance", "db", ip: "not-an-ip", port: 80)
        #expect(grpcBadIP.errorCode == 400 && grpcBadIP.message?.contains("IPv4 or IPv6") == true)
        await server.stop()

        server = try await Self.server(directory)
        #expect(try await server.http.list("db").hosts.compactMap { $0["ip"] as? String } == ["127.0.0.1"])
        #expect(try await server.http.list("web").hosts.isEmpty)
    }

    @Test func aCorruptDataFileStopsStartupNamesTheFileAndIsLeftUntouched() async throws {
        let directory = Self.dataDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = (directory as NSString).appendingPathComponent(SQLiteStore.fileName)
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: file))
        do {
            let server = try await Self.server(directory)
            await server.stop()
            Issue.record("a server started on a corrupt data file")
        } catch let error as StartupError {
            #expect(error.description.contains(file) && error.description.contains("left untouched"), "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == garbage)
    }

    @Test func aSecondNodeOnTheSameDataDirectoryRefusesToStart() async throws {
        let directory = Self.dataDirectory()
        let first = try await Self.server(directory)
        do {
            let second = try await Self.server(directory)
            await second.stop()
            Issue.record("two servers shared one data file")
        } catch let error as StartupError {
            #expect(error.description.contains("in use by another process"), "\(error)")
        }
        #expect(try await first.http.register("db", ip: "127.0.0.1", port: 5432, [("ephemeral", "false")]).body == "ok")
    }

    @Test func aFullDiskFailsTheWriteClearlyAndMemoryMatchesDisk() async throws {
        let directory = Self.dataDirectory()
        var server = try await Self.server(directory) { $0.dataFileMaximumPages = 20 }
        let metadata = #"{"blob":"\#(String(repeating: "x", count: 1000))"}"#
        var acknowledged: [String] = []
        var refusal: V1Client.Reply?
        for index in 1...200 where refusal == nil {
            let ip = "127.0.1.\(index)"
            let reply = try await server.http.register(
                "big", ip: ip, port: 9000, [("ephemeral", "false"), ("metadata", metadata)])
            if reply.status == 200 { acknowledged.append(ip) } else { refusal = reply }
        }
        #expect(
            refusal?.status == 500 && refusal?.body.contains("database or disk is full") == true,
            "\(String(describing: refusal))")
        #expect(!acknowledged.isEmpty)
        // What the server shows is exactly what was acknowledged, before and after a restart.
        #expect(
            try await server.http.list("big").hosts.compactMap { $0["ip"] as? String }.sorted() == acknowledged.sorted()
        )
        // Reads and ephemeral writes still work.
        #expect(try await server.http.register("scratch", ip: "10.2.0.1", port: 1).body == "ok")
        await server.stop()
        server = try await Self.server(directory)
        #expect(
            try await server.http.list("big").hosts.compactMap { $0["ip"] as? String }.sorted() == acknowledged.sorted()
        )
    }

    /// Whether this machine lets the test make files immutable (`chattr +i`: ext4 and the like,
    /// with CAP_LINUX_IMMUTABLE). Root ignores permission bits, so this is how a test run as
    /// root gets a data file the server cannot write.
    static func canMakeImmutable() -> Bool {
        let directory = dataDirectory()
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
        else { return false }
        defer { _ = chattr("-i", [directory]); try? FileManager.default.removeItem(atPath: directory) }
        return chattr("+i", [directory])
            && !FileManager.default.createFile(atPath: directory + "/probe", contents: Data())
    }

    @discardableResult
    static func chattr(_ flag: String, _ paths: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [flag] + paths
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test(.enabled(if: canMakeImmutable(), "needs chattr +i on the temporary directory"))
    func anUnwritableDataFileFailsTheWriteAndTheServerRecoversWhenItIsWritableAgain() async throws {
        let directory = Self.dataDirectory()
        var server = try await Self.server(directory)
        #expect(
            try await server.http.register("db", ip: "127.0.0.1", port: 5432, [("ephemeral", "false")]).body == "ok")
        let files =
            [directory]
            + ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).map { directory + "/" + $0 }
        #expect(Self.chattr("+i", files))
        let refused = try await server.http.register("db", ip: "127.0.0.2", port: 5432, [("ephemeral", "false")])
        let grpc = try await server.connect().persistent("registerInstance", "db", ip: "127.0.0.3", port: 5432)
        Self.chattr("-i", files)
        #expect(refused.status == 500 && refused.body.contains("the write was not stored"), "\(refused)")
        #expect(grpc.errorCode == 500 && grpc.message?.contains("the write was not stored") == true, "\(grpc)")
        #expect(try await server.http.list("db").hosts.compactMap { $0["ip"] as? String } == ["127.0.0.1"])
        // Writable again: writes work without a restart, and the restart shows exactly the acknowledged ones.
        #expect(
            try await server.http.register("db", ip: "127.0.0.4", port: 5432, [("ephemeral", "false")]).body == "ok")
        await server.stop()
        server = try await Self.server(directory)
        #expect(
            try await server.http.list("db").hosts.compactMap { $0["ip"] as? String }.sorted() == [
                "127.0.0.1", "127.0.0.4",
            ])
    }

    @Test func namespaceAPI() async throws {
        let directory = Self.dataDirectory()
        var server = try await Self.server(directory)
        let http = server.http
        let path = "/nacos/v1/console/namespaces"
        var list = try await http.call("GET", path).object
        #expect(list["code"] as? Int == 200)
        #expect((list["data"] as? [[String: Any]])?.first?["namespaceShowName"] as? String == "public")

        #expect(
            try await http.call(
                "POST", path, [("customNamespaceId", "dev"), ("namespaceName", "Dev"), ("namespaceDesc", "developers")]
            ).body == "true")
        let duplicate = try await http.call("POST", path, [("customNamespaceId", "dev"), ("namespaceName", "Dev")])
        #expect(duplicate.status == 400 && duplicate.body.contains("already exists"))
        let badID = try await http.call("POST", path, [("customNamespaceId", "no/slash"), ("namespaceName", "x")])
        #expect(badID.status == 400 && badID.body.contains("is illegal"))
        let badName = try await http.call("POST", path, [("customNamespaceId", "qa"), ("namespaceName", "q&a")])
        #expect(badName.status == 400 && badName.body.contains("@#$%^&*"))
        #expect(try await http.call("POST", path, [("namespaceName", "Generated")]).body == "true")
        #expect(
            try await http.call("GET", path, [("checkNamespaceIdExist", "true"), ("customNamespaceId", "dev")]).body
                == "true")
        #expect(
            try await http.call("GET", path, [("checkNamespaceIdExist", "true"), ("customNamespaceId", "nope")]).body
                == "false")

        #expect(
            try await http.call(
                "PUT", path, [("namespace", "dev"), ("namespaceShowName", "Development"), ("namespaceDesc", "devs")]
            ).body == "true")
        let one = try await http.call("GET", path, [("show", "all"), ("namespaceId", "dev")]).object
        #expect(one["namespaceShowName"] as? String == "Development" && one["namespaceDesc"] as? String == "devs")
        #expect(try await http.call("GET", path, [("show", "all"), ("namespaceId", "nope")]).status == 404)

        try await http.register("api", ip: "10.3.0.1", port: 80, [("namespaceId", "dev")])
        let notEmpty = try await http.call("DELETE", path, [("namespaceId", "dev")])
        #expect(notEmpty.status == 400 && notEmpty.body.contains("still holds 1 service"))
        #expect(try await http.call("DELETE", path, [("namespaceId", "public")]).status == 400)
        try await http.call(
            "DELETE", "/nacos/v1/ns/instance",
            [("serviceName", "api"), ("ip", "10.3.0.1"), ("port", "80"), ("namespaceId", "dev")])
        #expect(try await http.call("DELETE", path, [("namespaceId", "dev")]).body == "true")
        await server.stop()

        server = try await Self.server(directory)
        list = try await server.http.call("GET", path).object
        let names = (list["data"] as? [[String: Any]])?.compactMap { $0["namespaceShowName"] as? String }
        #expect(names == ["public", "Generated"])
    }
}

extension NacosConnection {
    /// Sends a `PersistentInstanceRequest` and decodes the response.
    func persistent(_ type: String, _ service: String, ip: String, port: Int, metadata: [String: String]? = nil)
        async throws -> ResponseFields
    {
        let request = InstanceRequest(
            namespace: "public", serviceName: service, groupName: "DEFAULT_GROUP", type: type,
            instance: InstanceBody(
                ip: ip, port: port, weight: 1.0, healthy: true, enabled: true, ephemeral: false, clusterName: "DEFAULT",
                metadata: metadata)
        )
        return try decode(ResponseFields.self, try await self.request("PersistentInstanceRequest", request))
    }
}
