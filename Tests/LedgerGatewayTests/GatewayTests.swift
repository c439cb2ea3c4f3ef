import FakeProvider
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore
import NIOHTTP1
import Testing

@Suite(.serialized) struct GatewayTests {
    static let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":100}"#

    @Test func chatCompletionIsForwardedPricedAndRecorded() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(team: "search")
            let reply = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: Self.chat,
                headers: [("X-TokenLedger-Feature", "autocomplete"), ("X-TokenLedger-User", "alice")])
            #expect(reply.status == 200)
            #expect(reply.json?["usage"]?["prompt_tokens"] == .integer(42))
            let requestID = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
            let cost = try #require(reply.headers.first(name: "x-tokenledger-cost-usd"))
            // gpt-4o-mini: input 10 × $0.15/M, cached 32 × $0.075/M, output 17 × $0.60/M (reasoning included).
            #expect(cost == "0.0000141")
            // The fake saw the provider key, never the TokenLedger key.
            let stats = harness.fakeStats()
            #expect(stats.lastHeaders["authorization"] == "Bearer sk-fake-upstream")
            let event = try #require(try await harness.recorded(requestID))
            #expect(event.cost.decimalString == cost)
            #expect(event.event.attribution.team == "search")
            #expect(event.event.attribution.user == "alice")
            #expect(event.event.attribution.feature == "autocomplete")
            #expect(event.event.tokens.cacheRead == 32 && event.event.tokens.input == 10)
            #expect(event.event.tokens.reasoning == 5 && event.event.tokens.output == 12)
            #expect(event.event.tags["key"] == key.id)
        }
    }

    @Test func metricsCountRequestsAndUpstreamLatency() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(team: "search")
            var requestIDs: [String] = []
            for _ in 0..<3 {
                let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: Self.chat)
                #expect(reply.status == 200)
                requestIDs.append(try #require(reply.headers.first(name: "x-tokenledger-request-id")))
                try await Task.sleep(for: .milliseconds(3))
            }
            #expect(Set(requestIDs).count == 3)
            #expect(requestIDs == requestIDs.sorted(), "ids made later sort later (they start with the time)")
            for id in requestIDs {
                #expect(id.hasPrefix("req_") && id.count == 28)
                #expect(id.dropFirst(4).allSatisfy { $0.isHexDigit && !$0.isUppercase })
            }
            let text = try await harness.get("/metrics", key: nil).body
            let lines = text.split(separator: "\n")
            #expect(
                lines.contains {
                    $0.hasPrefix("tokenledger_requests_total{") && $0.contains(#"team="search""#)
                        && $0.hasSuffix(" 3")
                })
            // The latency histogram is cumulative: counts never fall, and +Inf equals the count.
            let buckets = lines.filter {
                $0.hasPrefix(#"tokenledger_upstream_latency_seconds_bucket{upstream="openai""#)
            }
            let counts = buckets.compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
            #expect(counts.count == 15, "14 bounds and +Inf")
            #expect(counts == counts.sorted())
            #expect(counts.last == 3)
            #expect(lines.contains(#"tokenledger_upstream_latency_seconds_count{upstream="openai"} 3"#))
        }
    }

    @Test func streamWithoutIncludeUsageHidesTheUsageChunkButRecordsIt() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
            let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: body)
            #expect(reply.status == 200)
            #expect(!reply.body.contains("\"usage\""), "the caller did not ask for usage and must not see it")
            #expect(reply.body.hasSuffix("data: [DONE]\n\n"))
            #expect(reply.body.contains("the fake."))
            // The gateway asked upstream for usage.
            #expect(harness.fakeStats().lastBody["stream_options"]?["include_usage"] == .bool(true))
            let requestID = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
            let event = try #require(try await harness.recorded(requestID))
            #expect(event.event.outcome == .ok)
            #expect(event.event.tokens.prompt == 42 && event.event.tokens.cacheRead == 32)
            #expect(event.cost.decimalString == "0.0000141")
        }
    }

    @Test func streamWithIncludeUsagePassesTheUsageChunk() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
            let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: body)
            #expect(reply.body.contains("\"prompt_tokens\":42"))
            #expect(reply.body.contains("\"usage\":null"))
        }
    }

    @Test func anthropicMessagesStreamAndWhole() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body =
                #"{"model":"claude-sonnet-4-5","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
            let reply = try await harness.post("/v1/messages", key: key.secret, body: body, anthropic: true)
            #expect(reply.status == 200)
            #expect(reply.body.contains("event: message_stop"))
            let requestID = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
            let event = try #require(try await harness.recorded(requestID))
            #expect(event.event.tokens.input == 42 && event.event.tokens.output == 17)
            #expect(event.event.tokens.cacheRead == 32 && event.event.tokens.cacheWrite == 8)
            // claude-sonnet-4-5: 42 × $3 + 32 × $0.30 + 8 × $3.75 + 17 × $15 per million.
            #expect(event.cost.decimalString == "0.0004206")
            let whole = try await harness.post(
                "/v1/messages", key: key.secret, body: #"{"model":"claude-sonnet-4-5","max_tokens":200,"messages":[]}"#,
                anthropic: true)
            #expect(whole.headers.first(name: "x-tokenledger-cost-usd") == "0.0004206")
            #expect(harness.fakeStats().lastHeaders["anthropic-version"] == "2023-06-01")
        }
    }

    @Test func responsesEmbeddingsAndCompletionsAreMetered() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            for (path, body) in [
                ("/v1/responses", #"{"model":"gpt-4o-mini","input":"Hi","stream":true}"#),
                ("/v1/responses", #"{"model":"gpt-4o-mini","input":"Hi"}"#),
                ("/v1/embeddings", #"{"model":"text-embedding-3-small","input":"Hi"}"#),
                ("/v1/completions", #"{"model":"gpt-3.5-turbo-instruct","prompt":"Hi","stream":true}"#),
            ] {
                let reply = try await harness.post(path, key: key.secret, body: body)
                #expect(reply.status == 200, "\(path): \(reply.body)")
                let requestID = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
                let event = try #require(try await harness.recorded(requestID), "\(path) was not recorded")
                #expect(event.event.tokens.total > 0, "\(path) recorded no tokens")
                #expect(event.event.outcome == .ok, "\(path)")
            }
        }
    }

    @Test func hardBudgetRefusesBeforeTheProviderIsCalled() async throws {
        try await GatewayHarness.run { harness in
            // gpt-4o: the worst case of max_tokens 1000 is 1000 × $10/M = $0.01 plus the prompt.
            let key = try await harness.key(budget: "0.005/day")
            let body = #"{"model":"gpt-4o","max_tokens":1000,"messages":[{"role":"user","content":"Hi"}]}"#
            let before = harness.fakeStats().requests
            let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: body)
            #expect(reply.status == 429)
            #expect(reply.headers.first(name: "x-should-retry") == "false")
            let message = try #require(reply.json?["error"]?["message"]?.stringValue)
            #expect(message.contains("key '\(key.id)'") && message.contains("0.01 USD") == false)
            #expect(message.contains("daily budget") && message.contains("resets at"))
            #expect(reply.json?["error"]?["code"] == .string("budget_exceeded"))
            #expect(harness.fakeStats().requests == before, "a refused request must not reach the provider")
            // A smaller max_tokens fits.
            let small = try await harness.post(
                "/v1/chat/completions", key: key.secret,
                body: #"{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}"#)
            #expect(small.status == 200)
            // Anthropic-shaped refusals use Anthropic's error format.
            let anthropicKey = try await harness.key(budget: "0.0001/day")
            let refused = try await harness.post(
                "/v1/messages", key: anthropicKey.secret,
                body: #"{"model":"claude-sonnet-4-5","max_tokens":1000,"messages":[]}"#,
                anthropic: true)
            #expect(refused.status == 429)
            #expect(refused.json?["type"] == .string("error"))
            #expect(refused.json?["error"]?["type"] == .string("rate_limit_error"))
        }
    }

    @Test func concurrentRequestsCannotOvershootAHardBudget() async throws {
        try await GatewayHarness.run { harness in
            // Each call's worst case (gpt-4o-mini, max_tokens 100): prompt bytes × $0.15/M + 100 × $0.60/M
            // ≈ $0.0000732; the actual cost is $0.0000141. $0.0007 pays for 49 calls at their actual cost.
            let key = try await harness.key(budget: "0.0007/day")
            let body = #"{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}"#
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await harness.post("/v1/chat/completions", key: key.secret, body: body).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let admitted = statuses.filter { $0 == 200 }.count
            let refused = statuses.filter { $0 == 429 }.count
            #expect(admitted + refused == 200)
            #expect(admitted >= 9, "the budget admits at least limit / worst case")
            #expect(admitted <= 49, "never more than the budget pays for")
            #expect(refused > 0)
            await harness.gateway.flush()
            let status = try #require(
                try await harness.gateway.governance.status(
                    of: harness.gateway.governance.budgets().filter { $0.subject == key.id }, now: .current
                ).first)
            #expect(
                status.spent <= status.budget.limit, "spent \(status.spent) must stay within \(status.budget.limit)")
            #expect(status.reserved == .zero, "every hold is settled")
            #expect(status.spent.picodollars == Int128(admitted) * 14_100_000, "spend is exactly the admitted calls")
        }
    }

    @Test func rateLimitRefusesWithRetryAfter() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(rpm: 3)
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<5 {
                let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: Self.chat)
                statuses.append(reply.status)
                if reply.status == 429 { retryAfter = reply.headers.first(name: "retry-after") }
            }
            #expect(statuses == [200, 200, 200, 429, 429])
            let seconds = try #require(retryAfter.flatMap(Int.init))
            #expect((1...60).contains(seconds))
        }
    }

    @Test func tokenLimitsOfKeysAndTeamsCountTheTokensUsed() async throws {
        // Each fake answer uses 59 tokens: with 100 a minute, the third call is refused.
        try await GatewayHarness.run(configure: { $0.limits.teams["payments"] = .init(tpm: 100) }) { harness in
            for (key, subject) in [
                (try await harness.key(tpm: 100), "key "), (try await harness.key(team: "payments"), "team payments"),
            ] {
                var statuses: [Int] = []
                var message = ""
                for _ in 0..<3 {
                    let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: Self.chat)
                    statuses.append(reply.status)
                    if reply.status == 429 { message = reply.json?["error"]?["message"]?.stringValue ?? "" }
                }
                #expect(statuses == [200, 200, 429])
                #expect(message.contains("\(subject)") && message.contains("100 tokens per minute"), "\(message)")
            }
        }
    }

    @Test func aKeyCannotRecordSpendAsAnotherTeam() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(team: "search", user: "bob")
            let otherTeam = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: Self.chat, headers: [("X-TokenLedger-Team", "payments")])
            #expect(otherTeam.status == 403)
            #expect(otherTeam.json?["error"]?["message"]?.stringValue?.contains("team 'search'") == true)
            let otherUser = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: Self.chat, headers: [("X-TokenLedger-User", "mallory")])
            #expect(otherUser.status == 403)
            let sameTeam = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: Self.chat, headers: [("X-TokenLedger-Team", "search")])
            #expect(sameTeam.status == 200)
        }
    }

    @Test func badRequestsGetClearErrors() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(models: ["gpt-4o-mini", "claude-*"])
            let noKey = try await harness.post("/v1/chat/completions", key: nil, body: Self.chat)
            #expect(noKey.status == 401)
            let wrongKey = try await harness.post("/v1/chat/completions", key: "sk-provider-key", body: Self.chat)
            #expect(wrongKey.status == 401)
            let malformed = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: "{\"model\": \"gpt-4o-mini\",\n \"messages\": [}")
            #expect(malformed.status == 400)
            #expect(malformed.json?["error"]?["message"]?.stringValue?.contains("line 2") == true)
            let unknown = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: #"{"model":"gpt-9-imaginary","messages":[]}"#)
            #expect(unknown.status == 403 || unknown.status == 400)
            #expect(unknown.json?["error"]?["message"]?.stringValue?.contains("gpt-4o-mini") == true)
            let unrouted = try await harness.post(
                "/v1/chat/completions", key: (try await harness.key()).secret,
                body: #"{"model":"llama-70b","messages":[]}"#
            )
            #expect(unrouted.status == 400)
            #expect(unrouted.json?["error"]?["code"] == .string("model_not_found"))
            let sideDoor = try await harness.post("/v1/images/generations", key: key.secret, body: "{}")
            #expect(sideDoor.status == 404)
            let models = try await harness.get("/v1/models", key: key.secret)
            let ids = models.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(ids.contains("gpt-4o-mini") && !ids.contains("gpt-4o"))
            #expect(ids.contains { $0.hasPrefix("claude-") })
        }
    }

    @Test func upstreamErrorsAndTimeoutsAreReportedAndRecorded() async throws {
        try await GatewayHarness.run(configure: { $0.server.upstreamTimeoutSeconds = 1 }) { harness in
            let key = try await harness.key(budget: "10/day")
            let failed = try await harness.post(
                "/v1/chat/completions", key: key.secret,
                body: #"{"model":"gpt-4o-mini","fake":"fail-500","messages":[]}"#)
            #expect(failed.status == 500)
            #expect(failed.json?["error"]?["message"] != nil)
            let failedID = try #require(failed.headers.first(name: "x-tokenledger-request-id"))
            #expect(try await harness.recorded(failedID)?.event.outcome == .error)
            let slow = try await harness.post(
                "/v1/chat/completions", key: key.secret, body: #"{"model":"gpt-4o-mini","fake":"slow","messages":[]}"#)
            #expect(slow.status == 504)
            #expect(slow.json?["error"]?["message"]?.stringValue?.contains("did not answer within 1 s") == true)
            let slowID = try #require(slow.headers.first(name: "x-tokenledger-request-id"))
            #expect(try await harness.recorded(slowID)?.event.outcome == .error)
            let midStream = try await harness.post(
                "/v1/chat/completions", key: key.secret,
                body: #"{"model":"gpt-4o-mini","fake":"midfail","stream":true,"messages":[]}"#)
            #expect(midStream.body.contains("\"error\""), "a stream cut by the upstream ends with an error event")
            let midID = try #require(midStream.headers.first(name: "x-tokenledger-request-id"))
            #expect(try await harness.recorded(midID)?.event.outcome == .error)
            let budgets = try await harness.gateway.governance.budgets().filter { $0.subject == key.id }
            let status = try #require(try await harness.gateway.governance.status(of: budgets, now: .current).first)
            #expect(status.reserved == .zero, "holds are released on error paths")
        }
    }

    @Test func clientDisconnectMidStreamIsRecordedAsEstimated() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let requestID = try await RawClient.streamThenDisconnect(
                port: harness.port, key: key.secret,
                body:
                    #"{"model":"gpt-4o-mini","fake":"drip","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
            var event: RatedEvent?
            for _ in 0..<50 {
                event = try await harness.recorded(requestID)
                if event != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let recorded = try #require(event)
            #expect(recorded.event.outcome == .estimated)
            #expect(recorded.event.tokens.output > 0)
            try await Task.sleep(for: .milliseconds(400))
            #expect(harness.fakeStats().streamsCancelled >= 1, "the upstream call is cancelled")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrderWhoeverServesThem() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#
            // A metered call, a route the router serves, and a metered call that asks to close,
            // sent in one write: each waits for the answer before it.
            let started = ContinuousClock.now
            let received = try await RawClient.pipeline(
                port: harness.port,
                [
                    RawClient.chatRequest(key: key.secret, body: body),
                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    RawClient.chatRequest(key: key.secret, body: body, extraHeaders: "Connection: close\r\n"),
                ])
            #expect(ContinuousClock.now - started < .seconds(5), "the connection is closed after the third answer")
            let answers = received.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.lowercased() }
            try #require(answers.count == 3, "three answers in \(received)")
            #expect(answers[0].hasPrefix("200") && answers[0].contains("x-tokenledger-cost-usd:"))
            #expect(answers[1].hasPrefix("200") && answers[1].contains("spool_pending"))
            #expect(answers[2].hasPrefix("200") && answers[2].contains("x-tokenledger-cost-usd:"))
            #expect(answers[2].contains("connection: close"))
            #expect(!answers[0].contains("connection: close"))
            #expect(harness.fakeStats().requests == 2)
        }
    }

    @Test func callsAnsweredWithoutWaitingKeepPipelinedRequestsInOrder() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#
            // On an idle gateway a call starts inside the read that completed it, and a call without
            // a key is refused there and then, before the requests behind it are taken up.
            let noKey =
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let received = try await RawClient.pipeline(
                port: harness.port,
                [
                    noKey,
                    RawClient.chatRequest(key: key.secret, body: body),
                    RawClient.chatRequest(key: "tl-not-a-key", body: #"{"model":"#),
                    RawClient.chatRequest(key: key.secret, body: "{", extraHeaders: "Connection: close\r\n"),
                ])
            let answers = received.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.lowercased() }
            try #require(answers.count == 4, "four answers in \(received)")
            #expect(answers[0].hasPrefix("401") && answers[0].contains("missing_api_key"))
            #expect(answers[1].hasPrefix("200") && answers[1].contains("x-tokenledger-cost-usd:"))
            #expect(answers[2].hasPrefix("401"))
            #expect(answers[3].hasPrefix("400") && answers[3].contains("invalid_json"))
            #expect(answers[3].contains("connection: close"))
            #expect(harness.fakeStats().requests == 1)
        }
    }

    @Test func aClientThatExpectsContinueIsToldToSendItsBody() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let started = ContinuousClock.now
            let (interim, final) = try await RawClient.expectContinue(
                port: harness.port, key: key.secret,
                body: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#)
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
            #expect(final.hasPrefix("HTTP/1.1 200 OK"), "\(final)")
            #expect(final.lowercased().contains("x-tokenledger-cost-usd:"))
            #expect(ContinuousClock.now - started < .seconds(2), "no wait for a timeout")
        }
        // A body larger than the gateway takes is not asked for; it is refused once read.
        try await GatewayHarness.run(configure: { $0.server.maxBodyBytes = 200 }) { harness in
            let key = try await harness.key()
            let (interim, final) = try await RawClient.expectContinue(
                port: harness.port, key: key.secret,
                body:
                    #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\#(String(repeating: "x", count: 300))"}]}"#,
                interimWait: 1)
            #expect(interim.isEmpty, "\(interim)")
            #expect(final.hasPrefix("HTTP/1.1 413"), "\(final)")
            #expect(final.contains("max_body_bytes"))
        }
    }

    @Test func aCallerThatHangsUpCancelsTheCallAndItIsRecorded() async throws {
        try await GatewayHarness.run(configure: { $0.server.upstreamTimeoutSeconds = 1 }) { harness in
            let key = try await harness.key()
            // The fake answers after 3 s and the gateway's upstream timeout is 1 s: a 504 would
            // be recorded after 1 s if the call were not cancelled when the caller hangs up.
            try await RawClient.sendThenHangUp(
                port: harness.port,
                RawClient.chatRequest(
                    key: key.secret,
                    body: #"{"model":"gpt-4o-mini","fake":"slow","messages":[{"role":"user","content":"Hello there"}]}"#
                ),
                after: 0.2)
            let metrics = try await harness.metrics(containing: #"status="499""#)
            #expect(metrics.contains(#"outcome="estimated",status="499"} 1"#), "\(metrics)")
            #expect(!metrics.contains(#"status="504""#))
            let started = try #require(
                metrics.split(separator: "\n").first {
                    $0.hasPrefix("tokenledger_requests_total{") && $0.contains("499")
                })
            #expect(started.contains(#"model="gpt-4o-mini""#))
        }
    }
}
