// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

extension Target.Dependency {
    static let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
    static let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
    static let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
    static let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
    static let nioHTTP2 = Target.Dependency.product(name: "NIOHTTP2", package: "swift-nio-http2")
    static let nioHPACK = Target.Dependency.product(name: "NIOHPACK", package: "swift-nio-http2")
    static let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
    static let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
    static let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
    static let compress = Target.Dependency.product(name: "CompressNIO", package: "compress-nio")
    static let httpClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
    static let coreMetrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")
}

let package = Package(
    name: "Registrar",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "registrar", targets: ["registrar"]),
        .executable(name: "registrar-bench", targets: ["registrar-bench"]),
        .executable(name: "registrar-fuzz", targets: ["registrar-fuzz"]),
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
        // System zlib (zlib1g-dev): gzip for v1 UDP push, zlib for Distro.
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // SQLite (system libsqlite3-dev) for the durable store: persistent instances, services, namespaces.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // HMAC-SHA256 for access tokens (JWT HS256), and bcrypt for passwords.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        // TLS on the SDK gRPC port (ALPN h2), the HTTP port and the cluster port.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // The HTTP client (one per process): v1 forwarding between members, logins and the Open API calls.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // PostgreSQL for durable data in cluster mode (one database every member shares).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Metrics: recorded through swift-metrics, exported in Prometheus's text format (a registry per node).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Settings: flags, REGISTRAR_* environment variables and the config file, each key declared once.
        .package(
            url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["CommandLineArguments"]),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
    ],
    targets: [
        // The wire contract: protobuf envelope (generated from proto/), PayloadCodec, the JSON
        // request/response models, JSON reading and writing. Depends on nothing of ours.
        .target(
            name: "RegistrarWire",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        // A thin gRPC layer over swift-nio-http2 (server and client sides), and the process's one HTTP client
        // (async-http-client). Knows no Nacos.
        .target(
            name: "RegistrarTransport",
            dependencies: [
                .nioCore, .nioPosix, .nioHTTP2, .nioHPACK, .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .httpClient, .coreMetrics,
            ],
            swiftSettings: strict
        ),
        // The domain: clients, services, indexes, ServiceInfo read model. No I/O.
        .target(
            name: "RegistrarCore",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict
        ),
        // The durable stores: SQLite for one node (WAL, full sync), PostgreSQL with a change log for a cluster.
        .target(
            name: "RegistrarStorage",
            dependencies: [
                "RegistrarCore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .logging,
            ],
            swiftSettings: strict
        ),
        // The runtime: the composition root, gRPC and v1 HTTP fronts, push (gRPC and UDP),
        // liveness and heartbeats, health checks, cluster mode, configuration, lifecycle.
        .target(
            name: "RegistrarServer",
            dependencies: [
                "RegistrarCore", "RegistrarWire", "RegistrarTransport", "RegistrarStorage",
                .nioCore, .nioPosix, .nioHTTP1, .logging, .lifecycle, .compress,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .httpClient, .coreMetrics,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            resources: [
                // The web console's files, compiled in: a copied binary keeps its console.
                .embedInCode("Console/Assets/index.html"), .embedInCode("Console/Assets/console-api.js"),
                .embedInCode("Console/Assets/console-edit.js"), .embedInCode("Console/Assets/console.js"),
                .embedInCode("Console/Assets/console.css"),
            ],
            swiftSettings: strict
        ),
        // The Swift SDK: RegistrarClient (reconnect, failover, redo, subscriptions, cache) over
        // NacosConnection. Speaks the contract only: no server code.
        .target(
            name: "RegistrarClient",
            dependencies: [
                "RegistrarWire", "RegistrarTransport", .nioCore, .nioPosix, .logging, .httpClient,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // The product: `serve` and the operator verbs.
        .executableTarget(
            name: "registrar",
            dependencies: [
                "RegistrarServer", "RegistrarClient", "RegistrarWire", "RegistrarTransport", "RegistrarStorage",
                .argumentParser, .logging, .lifecycle, .nioPosix,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The load generator, outside the product.
        .executableTarget(
            name: "registrar-bench",
            dependencies: [
                "RegistrarClient", "RegistrarWire", "RegistrarTransport", "RegistrarServer", .argumentParser, .logging,
                .nioCore, .nioPosix, .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // Fuzz targets (libFuzzer under `scripts/fuzz`; a plain build replays the corpus).
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "registrar-fuzz",
            dependencies: [
                "FuzzDriver", "RegistrarServer", "RegistrarWire", "RegistrarTransport", "RegistrarCore", .nioCore,
                .nioEmbedded, .nioHTTP2, .nioHPACK,
            ],
            swiftSettings: strict
        ),
        // Test support: servers with structured teardown, connections, bounded waits, fakes.
        .target(
            name: "RegistrarTesting",
            dependencies: [
                "RegistrarServer", "RegistrarClient", "RegistrarWire", "RegistrarTransport", "RegistrarCore",
                .nioCore, .nioPosix, .logging,
            ],
            path: "Tests/RegistrarTesting",
            swiftSettings: strict
        ),
        .testTarget(name: "RegistrarCoreTests", dependencies: ["RegistrarCore"], swiftSettings: strict),
        .testTarget(name: "RegistrarWireTests", dependencies: ["RegistrarWire"], swiftSettings: strict),
        .testTarget(
            name: "RegistrarTransportTests",
            dependencies: ["RegistrarTransport", .nioCore, .nioPosix, .nioEmbedded, .nioHTTP2, .nioHPACK],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RegistrarStorageTests",
            dependencies: ["RegistrarStorage", "RegistrarCore", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strict),
        .testTarget(
            name: "RegistrarClientTests",
            dependencies: ["RegistrarClient", "RegistrarTesting", "RegistrarWire", .nioCore, .nioPosix],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RegistrarServerTests",
            dependencies: [
                "RegistrarServer", "RegistrarWire", "RegistrarTransport", "RegistrarCore", "RegistrarClient",
                "RegistrarStorage", "RegistrarTesting", .nioCore, .nioPosix, .nioEmbedded, .nioHTTP2, .logging, .compress,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
    ]
)
