// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Registrar",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "registrar", targets: ["registrar"]),
        .library(name: "RegistrarClient", targets: ["RegistrarClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.36.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.28.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // Heap (deadline queue of v1 heartbeats); already a dependency of Hummingbird.
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        // Hummingbird without its default traits (swift-configuration, full Foundation): lean builds.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        // System zlib (zlib1g-dev): gzip for v1 UDP push, zlib for Distro later.
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // SQLite (system libsqlite3-dev) for the durable store: persistent instances, services, namespaces.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // The wire contract: protobuf envelope (generated from proto/) and the JSON request/response models.
        .target(
            name: "RegistrarWire",
            dependencies: ["RegistrarCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        // A thin gRPC layer over swift-nio-http2 (server and client sides).
        .target(
            name: "RegistrarTransport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ],
            swiftSettings: strict
        ),
        // The domain: clients, services, indexes, ServiceInfo read model. No I/O.
        .target(name: "RegistrarCore", dependencies: [.product(name: "HeapModule", package: "swift-collections")], swiftSettings: strict),
        // The durable store: versioned SQLite schema (WAL, full sync) and group-committed writes.
        .target(
            name: "RegistrarStorage",
            dependencies: ["RegistrarCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // The runtime: gRPC and v1 HTTP fronts, push (gRPC and UDP), liveness and heartbeats,
        // configuration, lifecycle.
        .target(
            name: "RegistrarServer",
            dependencies: [
                "RegistrarCore", "RegistrarWire", "RegistrarTransport", "RegistrarStorage",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),
        // The Swift SDK: RegistrarClient (reconnect, failover, redo, subscriptions, cache) over NacosConnection.
        .target(
            name: "RegistrarClient",
            dependencies: [
                "RegistrarCore", "RegistrarWire", "RegistrarTransport",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "registrar",
            dependencies: [
                "RegistrarServer", "RegistrarWire", "RegistrarTransport", "RegistrarClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "RegistrarCoreTests", dependencies: ["RegistrarCore"], swiftSettings: strict),
        .testTarget(name: "RegistrarWireTests", dependencies: ["RegistrarWire"], swiftSettings: strict),
        .testTarget(
            name: "RegistrarTransportTests",
            dependencies: ["RegistrarTransport", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RegistrarServerTests",
            dependencies: [
                "RegistrarServer", "RegistrarWire", "RegistrarTransport", "RegistrarCore", "RegistrarClient", "RegistrarStorage",
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
