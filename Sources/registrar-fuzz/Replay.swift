import Foundation
import RegistrarCore
import RegistrarWire

@testable import RegistrarServer

/// Replays committed inputs through the targets without libFuzzer: a crash reproducer in
/// `Fuzz/regressions/<target>/` fails the run by crashing it, as it once crashed the fuzzer.
enum Replay {
    /// Runs every file for `targets`; returns how many ran.
    static func run(_ targets: [FuzzTarget], root: URL) -> Int {
        var total = 0
        for target in targets {
            var count = 0
            for kind in ["corpus", "regressions"] {
                for file in files(in: root.appendingPathComponent(kind).appendingPathComponent(target.rawValue)) {
                    guard let data = FileManager.default.contents(atPath: file.path) else { continue }
                    // Named first, so that a crash's last line says which input it was.
                    FileHandle.standardError.write(Data("\(target.rawValue) < \(file.path)\n".utf8))
                    target.run(Array(data))
                    count += 1
                }
            }
            print("\(target.rawValue): \(count) input(s) replayed, no crash")
            total += count
        }
        return total
    }

    static func files(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }
}

/// Derives the seeds of the binary targets from the JSON bodies of real clients (which
/// `scripts/fuzz-seeds.py` took from the wire traces), so every seed starts from real traffic.
enum Seeds {
    static func derive(root: URL) throws {
        let corpus = root.appendingPathComponent("corpus")
        let bodies = Replay.files(in: corpus.appendingPathComponent("json")).compactMap { file in
            FileManager.default.contents(atPath: file.path).map { (file.lastPathComponent, $0) }
        }
        guard !bodies.isEmpty else { throw SeedError("no json seeds under \(corpus.path); run scripts/fuzz-seeds.py") }
        var written = 0
        for (name, body) in bodies {
            let type = String(name.prefix { $0 != "-" })
            let payload = PayloadCodec.encode(type: type, json: Array(body), clientIp: "192.0.2.2", headers: [:])
            try write(payload, to: corpus, "payload", name)
            let path = type == "ConnectionSetupRequest" ? "/BiRequestStream/requestBiStream" : "/Request/request"
            try write(try GRPCFrameFuzz.clientBytes(path: path, message: payload), to: corpus, "grpc", name)
            written += 2
        }
        for (name, batch) in clusterBatches(from: bodies) {
            let json = DistroJSON.encode(batch)
            try write(json, to: corpus, "cluster", "\(name)-json")
            try write(ClusterWire.deflate(json), to: corpus, "cluster", "\(name)-zlib")
            written += 2
        }
        print("wrote \(written) derived seed(s) under \(corpus.path)")
    }

    /// Distro batches of the instances real clients registered, as a member would replicate them.
    private static func clusterBatches(from bodies: [(String, Data)]) -> [(String, DistroJSON.Batch)] {
        var batches: [(String, DistroJSON.Batch)] = []
        for (name, body) in bodies where name.hasPrefix("InstanceRequest") {
            guard let request = try? BodyDecoder.decode(InstanceRequest.self, from: WireMessage(type: "", json: body)),
                let instance = request.instance
            else { continue }
            let service = ServiceKey(
                namespace: request.namespace ?? "public", group: request.groupName, name: request.serviceName ?? "")
            let datum = ClientDatum(
                clientId: "1795254101523_127.0.0.1_46502", revision: 1_795_254_101_523_000, owner: "10.0.0.2:8848",
                publications: [service: [Instance(ip: instance.ip ?? "", port: instance.port ?? 0)]])
            let deletion = ClientDeletion(clientId: "1795254101000_127.0.0.1_40000", revision: 1_795_254_101_600_000)
            batches.append((name, DistroJSON.Batch(data: [datum], deleted: [deletion])))
        }
        return batches
    }

    private static func write(_ bytes: [UInt8], to corpus: URL, _ target: String, _ name: String) throws {
        let directory = corpus.appendingPathComponent(target)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: directory.appendingPathComponent(name))
    }

    struct SeedError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
