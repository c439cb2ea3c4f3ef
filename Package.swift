// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "TokenLedger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenledger", targets: ["tokenledger"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "LedgerStore", targets: ["LedgerStore"]),
        .library(name: "LedgerIngest", targets: ["LedgerIngest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "LedgerCore", swiftSettings: strictSettings),
        .target(
            name: "LedgerCatalogData",
            dependencies: ["LedgerCore"],
            resources: [.copy("prices.json")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LedgerStore",
            dependencies: [
                "LedgerCore", "CSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // SQLite itself (the public-domain amalgamation of the version in Sources/CSQLite/VERSION),
        // compiled into the program: GRDB's calls resolve to it rather than to the system's older
        // library. Recording is about a fifth faster than on Debian 12's SQLite 3.40
        // (docs/BENCHMARKS.md).
        .target(
            name: "CSQLite",
            exclude: ["sqlite3.c", "VERSION"],
            cSettings: [
                .define("SQLITE_DEFAULT_MEMSTATUS", to: "0"),
                .define("SQLITE_ENABLE_COLUMN_METADATA"),
                .define("SQLITE_LIKE_DOESNT_MATCH_BLOBS"),
                .define("SQLITE_MAX_EXPR_DEPTH", to: "0"),
                .define("SQLITE_USE_ALLOCA"),
                .define("SQLITE_OMIT_LOAD_EXTENSION"),
            ]
        ),
        .target(name: "LedgerIngest", dependencies: ["LedgerCore"], swiftSettings: strictSettings),
        .target(
            name: "LedgerGateway",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerIngest", "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .executableTarget(
            name: "tokenledger",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerIngest", "LedgerCatalogData", "LedgerGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ParserFuzz",
            dependencies: ["LedgerCore", "LedgerIngest"],
            path: "Fuzz/ParserFuzz",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "LedgerBenchmarks",
            dependencies: ["LedgerCore", "LedgerStore", "LedgerIngest", "LedgerCatalogData"],
            path: "Benchmarks/LedgerBenchmarks",
            swiftSettings: strictSettings
        ),
        .target(
            name: "FakeProvider",
            dependencies: [
                "LedgerCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/FakeProvider",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "tokenledger-fake-provider",
            dependencies: ["FakeProvider"],
            path: "Tests/FakeProviderMain",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LedgerGatewayTests",
            dependencies: [
                "LedgerGateway", "LedgerCore", "LedgerStore", "LedgerCatalogData", "FakeProvider",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LedgerCoreTests", dependencies: ["LedgerCore", "LedgerCatalogData"], swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerStoreTests",
            dependencies: [
                "LedgerStore", "LedgerCore", "LedgerCatalogData", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerIngestTests", dependencies: ["LedgerIngest", "LedgerCore", "LedgerCatalogData"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "TokenLedgerCLITests",
            dependencies: ["LedgerCore", "FakeProvider", "tokenledger"],
            swiftSettings: strictSettings
        ),
    ]
)
