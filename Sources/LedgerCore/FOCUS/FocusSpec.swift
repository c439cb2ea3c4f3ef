/// The FOCUS 1.2 cost-and-usage columns and value sets: what the exporter writes and the
/// conformance check enforces (FOCUS_Spec v1.2, `specification/columns/*.md` and `attributes/*.md`).
public enum FocusSpec {
    public static let version = "1.2"

    public enum Level: String, Sendable { case mandatory, conditional, recommended }
    public enum ValueType: Sendable { case string, decimal, dateTime, currency, json, unit }

    public struct Column: Sendable {
        public var name: String
        public var level: Level
        public var nullable: Bool
        public var type: ValueType
        /// The allowed values, when the column has a closed set.
        public var allowed: [String]?
    }

    private static func column(
        _ name: String, _ level: Level, nullable: Bool, _ type: ValueType = .string, allowed: [String]? = nil
    ) -> Column {
        Column(name: name, level: level, nullable: nullable, type: type, allowed: allowed)
    }

    /// All 57 columns, in the spec's (alphabetical) order.
    public static let columns: [Column] = [
        column("AvailabilityZone", .recommended, nullable: true),
        column("BilledCost", .mandatory, nullable: false, .decimal),
        column("BillingAccountId", .mandatory, nullable: false),
        column("BillingAccountName", .mandatory, nullable: true),
        column("BillingAccountType", .conditional, nullable: false),
        column("BillingCurrency", .mandatory, nullable: false, .currency),
        column("BillingPeriodEnd", .mandatory, nullable: false, .dateTime),
        column("BillingPeriodStart", .mandatory, nullable: false, .dateTime),
        column("CapacityReservationId", .conditional, nullable: true),
        column("CapacityReservationStatus", .conditional, nullable: true, allowed: ["Used", "Unused"]),
        column(
            "ChargeCategory", .mandatory, nullable: false,
            allowed: ["Usage", "Purchase", "Tax", "Credit", "Adjustment"]
        ),
        column("ChargeClass", .mandatory, nullable: true, allowed: ["Correction"]),
        column("ChargeDescription", .mandatory, nullable: true),
        column("ChargeFrequency", .recommended, nullable: false, allowed: ["One-Time", "Recurring", "Usage-Based"]),
        column("ChargePeriodEnd", .mandatory, nullable: false, .dateTime),
        column("ChargePeriodStart", .mandatory, nullable: false, .dateTime),
        column("CommitmentDiscountCategory", .conditional, nullable: true, allowed: ["Spend", "Usage"]),
        column("CommitmentDiscountId", .conditional, nullable: true),
        column("CommitmentDiscountName", .conditional, nullable: true),
        column("CommitmentDiscountQuantity", .conditional, nullable: true, .decimal),
        column("CommitmentDiscountStatus", .conditional, nullable: true, allowed: ["Used", "Unused"]),
        column("CommitmentDiscountType", .conditional, nullable: true),
        column("CommitmentDiscountUnit", .conditional, nullable: true, .unit),
        column("ConsumedQuantity", .conditional, nullable: true, .decimal),
        column("ConsumedUnit", .conditional, nullable: true, .unit),
        column("ContractedCost", .mandatory, nullable: false, .decimal),
        column("ContractedUnitPrice", .conditional, nullable: true, .decimal),
        column("EffectiveCost", .mandatory, nullable: false, .decimal),
        column("InvoiceId", .recommended, nullable: true),
        column("InvoiceIssuerName", .mandatory, nullable: false),
        column("ListCost", .mandatory, nullable: false, .decimal),
        column("ListUnitPrice", .conditional, nullable: true, .decimal),
        column(
            "PricingCategory", .conditional, nullable: true, allowed: ["Standard", "Dynamic", "Committed", "Other"]),
        column("PricingCurrency", .conditional, nullable: true),
        column("PricingCurrencyContractedUnitPrice", .conditional, nullable: true, .decimal),
        column("PricingCurrencyEffectiveCost", .conditional, nullable: true, .decimal),
        column("PricingCurrencyListUnitPrice", .conditional, nullable: true, .decimal),
        column("PricingQuantity", .mandatory, nullable: true, .decimal),
        column("PricingUnit", .mandatory, nullable: true, .unit),
        column("ProviderName", .mandatory, nullable: false),
        column("PublisherName", .mandatory, nullable: false),
        column("RegionId", .conditional, nullable: true),
        column("RegionName", .conditional, nullable: true),
        column("ResourceId", .conditional, nullable: true),
        column("ResourceName", .conditional, nullable: true),
        column("ResourceType", .conditional, nullable: true),
        column("ServiceCategory", .mandatory, nullable: false, allowed: Array(serviceSubcategories.keys).sorted()),
        column("ServiceName", .mandatory, nullable: false),
        column("ServiceSubcategory", .recommended, nullable: false),
        column("SkuId", .conditional, nullable: true),
        column("SkuMeter", .conditional, nullable: true),
        column("SkuPriceDetails", .conditional, nullable: true, .json),
        column("SkuPriceId", .conditional, nullable: true),
        column("SubAccountId", .conditional, nullable: true),
        column("SubAccountName", .conditional, nullable: true),
        column("SubAccountType", .conditional, nullable: true),
        column("Tags", .conditional, nullable: true, .json),
    ]

    public static let columnsByName: [String: Column] = Dictionary(
        uniqueKeysWithValues: columns.map { ($0.name, $0) })

    /// ServiceCategory → its ServiceSubcategory values. Every category also allows
    /// `Other (<category>)`, included here.
    public static let serviceSubcategories: [String: [String]] = {
        let named: [String: [String]] = [
            "AI and Machine Learning": [
                "AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
            ],
            "Analytics": [
                "Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics",
            ],
            "Business Applications": ["Productivity and Collaboration"],
            "Compute": [
                "Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines",
            ],
            "Databases": [
                "Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases",
                "Time Series Databases",
            ],
            "Developer Tools": [
                "Developer Platforms", "Continuous Integration and Deployment", "Development Environments",
                "Source Code Management", "Quality Assurance",
            ],
            "Identity": ["Identity and Access Management"],
            "Integration": ["API Management", "Messaging", "Workflow Orchestration"],
            "Internet of Things": ["IoT Analytics", "IoT Platforms"],
            "Management and Governance": [
                "Architecture", "Compliance", "Cost Management", "Data Governance", "Disaster Recovery",
                "Endpoint Management", "Observability", "Support",
            ],
            "Media": ["Content Creation", "Gaming", "Media Streaming", "Mixed Reality"],
            "Migration": ["Data Migration", "Resource Migration"],
            "Mobile": [],
            "Multicloud": ["Multicloud Integration"],
            "Networking": [
                "Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure",
                "Network Routing", "Network Security",
            ],
            "Security": ["Secret Management", "Security Posture Management", "Threat Detection and Response"],
            "Storage": ["Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms"],
            "Web": ["Application Platforms"],
            "Other": [],
        ]
        return named.reduce(into: [:]) { result, entry in
            result[entry.key] = entry.value + ["Other (\(entry.key))"]
        }
    }()

    /// FOCUS-defined SkuPriceDetails keys; any other key must start with `x_`.
    public static let skuPriceDetailKeys: Set<String> = [
        "CoreCount", "DiskMaxIops", "DiskSpace", "DiskType", "GpuCount", "InstanceType", "InstanceSeries", "MemorySize",
        "NetworkMaxIops", "NetworkMaxThroughput", "OperatingSystem", "Redundancy", "StorageClass",
    ]
}
