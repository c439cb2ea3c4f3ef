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
                "LedgerCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "LedgerIngest", dependencies: ["LedgerCore"], swiftSettings: strictSettings),
        .executableTarget(
            name: "tokenledger",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerIngest", "LedgerCatalogData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "LedgerBenchmarks",
            dependencies: ["LedgerCore", "LedgerStore", "LedgerIngest", "LedgerCatalogData"],
            path: "Benchmarks/LedgerBenchmarks",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LedgerCoreTests", dependencies: ["LedgerCore", "LedgerCatalogData"], swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerStoreTests", dependencies: ["LedgerStore", "LedgerCore", "LedgerCatalogData"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerIngestTests", dependencies: ["LedgerIngest", "LedgerCore", "LedgerCatalogData"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "TokenLedgerCLITests",
            dependencies: ["LedgerCore", "tokenledger"],
            swiftSettings: strictSettings
        ),
    ]
)
