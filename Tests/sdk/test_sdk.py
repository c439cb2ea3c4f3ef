"""The gateway from outside: the official `openai` and `anthropic` Python SDKs, unchanged, with
base_url pointed at a real `tokenledger serve` in front of the fake provider; the official
OpenTelemetry SDK exporting GenAI spans to its OTLP receiver (protobuf, gzip); then kill -9 under
load and a restart, checking that every completed request is in the ledger exactly once.

Run by scripts/test.sh after the Swift build:  python3 Tests/sdk/test_sdk.py .build/debug
"""
import concurrent.futures
from decimal import Decimal
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import anthropic
import openai
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

BUILD = sys.argv[1] if len(sys.argv) > 1 else ".build/debug"
KEY = "tl-sdk-test-0000000000000000"
INGEST = "tl-sdk-ingest-000000000000000"
ADMIN = "admin-sdk-test"
failures = []


def check(condition, message):
    print(("  ok   " if condition else "  FAIL ") + message)
    if not condition:
        failures.append(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


work = tempfile.mkdtemp(prefix="tl-sdk-")
fake_port, port = free_port(), free_port()
config = os.path.join(work, "tokenledger.yaml")
prices = os.path.join(work, "prices.json")
with open(prices, "w") as f:
    # $3.60 a GPU-hour: $0.001 a GPU-second.
    json.dump({"models": [{"provider": "self-hosted", "model": "llama-3.1-8b-instruct", "source": "2 GPUs",
                           "prices": [{"effective_from": "2025-01-01", "per_million": {"gpu_hour": "3.60"}}]}]}, f)
with open(config, "w") as f:
    f.write(f"""
server: {{host: 127.0.0.1, port: {port}, flush_interval_ms: 20}}
prices: {{file: {prices}}}
upstreams:
  - {{name: openai, kind: openai, base_url: "http://127.0.0.1:{fake_port}", api_key_env: FAKE_KEY, models: ["gpt-*", "text-embedding-*"]}}
  - {{name: anthropic, kind: anthropic, base_url: "http://127.0.0.1:{fake_port}", api_key_env: FAKE_KEY, models: ["claude-*"]}}
  - {{name: vllm, kind: openai-compatible, base_url: "http://127.0.0.1:{fake_port}", api_key_env: FAKE_KEY, provider: self-hosted, models: ["llama-*"], gpus: 2}}
keys:
  - {{id: key_sdk, name: sdk, secret: {KEY}, organisation: acme, team: search}}
  - {{id: key_otel, name: otel, secret: {INGEST}, organisation: acme, team: agents, purpose: ingest}}
otlp:
  attributes: {{app.feature: feature}}
""")
db = os.path.join(work, "ledger.sqlite")
env = dict(os.environ, FAKE_KEY="sk-fake-upstream", TOKENLEDGER_ADMIN_KEY=ADMIN)
fake = subprocess.Popen([f"{BUILD}/tokenledger-fake-provider", str(fake_port)], stdout=subprocess.DEVNULL)


def start_gateway():
    process = subprocess.Popen(
        [f"{BUILD}/tokenledger", "serve", "--config", config, "--db", db, "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/health")
    return process


def recorded(request_id):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/requests/{request_id}", headers={"Authorization": f"Bearer {ADMIN}"})
    for _ in range(50):
        try:
            return json.load(urllib.request.urlopen(request, timeout=5), parse_float=Decimal)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            time.sleep(0.05)
    return None


gateway = start_gateway()
try:
    wait_for(f"http://127.0.0.1:{fake_port}/_fake/stats")
    base = f"http://127.0.0.1:{port}"
    client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0)

    print("openai SDK")
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], max_tokens=50, user="alice")
    completion = raw.parse()
    check(completion.choices[0].message.content == "Hello from the fake.", "chat completion content")
    check(completion.usage.prompt_tokens == 42 and completion.usage.prompt_tokens_details.cached_tokens == 32,
          "usage passes through unchanged")
    check(raw.headers.get("x-tokenledger-cost-usd") == "0.0000141", "cost header " + str(raw.headers.get("x-tokenledger-cost-usd")))
    event = recorded(raw.headers["x-tokenledger-request-id"])
    check(event is not None and event["attribution"].get("user") == "alice" and event["attribution"]["team"] == "search",
          "recorded with the key's team and the body's user")

    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == "Hello from the fake.", "streamed text")
    check(all(c.usage is None for c in chunks), "no usage chunk when the caller did not ask for one")

    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True,
        stream_options={"include_usage": True}))
    check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 17, "usage chunk when asked for")

    print("self-hosted model priced per GPU-hour")
    raw = client.chat.completions.with_raw_response.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "Hi"}], extra_body={"fake": "busy"})
    check(raw.parse().choices[0].message.content == "Hello from the fake.", "self-hosted completion")
    event = recorded(raw.headers["x-tokenledger-request-id"])
    gpu = Decimal(event["gpu_seconds"]) if event and "gpu_seconds" in event else Decimal(0)
    # Two GPUs for the fake's 300 ms; the cost is that GPU time at $0.001 a GPU-second, exactly.
    check(Decimal("0.6") <= gpu < Decimal("1.6"), f"GPU time of the call: {gpu} GPU-seconds")
    check(Decimal(event["cost_usd"]) == gpu / 1000 and raw.headers.get("x-tokenledger-cost-usd") == event["cost_usd"],
          f"priced by its GPU time: {event['cost_usd']} USD")

    embedding = client.embeddings.create(model="text-embedding-3-small", input="Hi")
    check(len(embedding.data[0].embedding) == 3 and embedding.usage.prompt_tokens == 8, "embeddings")
    response = client.responses.create(model="gpt-4o-mini", input="Hi")
    check(response.output_text == "Hello from the fake." and response.usage.input_tokens == 42, "responses")
    events = list(client.responses.create(model="gpt-4o-mini", input="Hi", stream=True))
    check(events[-1].type == "response.completed", "responses stream")
    models = [m.id for m in client.models.list()]
    check("gpt-4o-mini" in models and any(m.startswith("claude-") for m in models), "models list")
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[], extra_headers={"X-TokenLedger-Team": "payments"})
        check(False, "cross-team attribution refused")
    except openai.PermissionDeniedError as error:
        check("team 'search'" in str(error), "cross-team attribution refused: " + str(error)[:80])

    print("anthropic SDK")
    aclient = anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0)
    message = aclient.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hello"}])
    check(message.content[0].text == "Hello from the fake." and message.usage.cache_read_input_tokens == 32, "message")
    with aclient.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                 messages=[{"role": "user", "content": "Hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    check(text == "Hello from the fake." and final.usage.output_tokens == 17, "message stream")
    count = aclient.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}])
    check(count.input_tokens == 42, "count_tokens")

    print("OpenTelemetry SDK, OTLP/HTTP protobuf with gzip")
    exporter = OTLPSpanExporter(
        endpoint=base + "/v1/traces", headers={"Authorization": f"Bearer {INGEST}"}, compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot", "deployment.environment.name": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk-test")
    with tracer.start_as_current_span("invoke_agent support") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.usage.input_tokens", 999999)  # its children's usage: not counted again
        with tracer.start_as_current_span("chat claude-sonnet-4-5") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 1000,
                "user.id": "bob", "app.feature": "triage"})
            chat_id = f"otel-{span.get_span_context().trace_id:032x}-{span.get_span_context().span_id:016x}"
        with tracer.start_as_current_span("chat gpt-4o") as bad:
            bad.set_attributes({"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                                "gen_ai.usage.output_tokens": -1})
            bad_id = f"otel-{bad.get_span_context().trace_id:032x}-{bad.get_span_context().span_id:016x}"
    provider.force_flush()
    event = recorded(chat_id)
    check(event is not None, "the GenAI span is in the ledger")
    if event:
        check(event["provider"] == "anthropic" and event["tokens"].get("input") == 200
              and event["tokens"].get("cache_read") == 1000 and event["tokens"].get("output") == 300,
              "its tokens, disjoint: " + json.dumps(event["tokens"]))
        check(event["attribution"].get("application") == "support-bot" and event["attribution"].get("user") == "bob"
              and event["attribution"].get("feature") == "triage" and event["attribution"].get("team") == "agents",
              "its attribution: " + json.dumps(event["attribution"]))
        # claude-sonnet-4-5: 200 × $3 + 1000 × $0.30 + 300 × $15 per million.
        check(event["cost_usd"] == "0.0054", "its cost: " + str(event["cost_usd"]))
    check(recorded(bad_id) is None, "a span with a negative token count is refused (partial success)")
    connection = sqlite3.connect(db)
    otel_events = connection.execute("SELECT COUNT(*) FROM events WHERE id LIKE 'otel-%'").fetchone()[0]
    connection.close()
    check(otel_events == 1, f"only the model call counts, not the agent span ({otel_events} otel events)")
    provider.shutdown()

    print("kill -9 under load, then restart")
    completed = []

    def call(_):
        try:
            r = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "load"}])
            return r.headers["x-tokenledger-request-id"]
        except Exception:
            return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(call, i) for i in range(3000)]
        time.sleep(1.0)
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait()
        completed = [f.result() for f in futures if f.result()]
    check(len(completed) > 50, f"{len(completed)} requests completed before the kill")
    gateway = start_gateway()  # replays the spool
    time.sleep(0.5)
    connection = sqlite3.connect(db)
    ids = {row[0] for row in connection.execute("SELECT id FROM events")}
    duplicates = connection.execute("SELECT COUNT(*) - COUNT(DISTINCT id) FROM events").fetchone()[0]
    connection.close()
    missing = [i for i in completed if i not in ids]
    check(not missing, f"every completed request is in the ledger ({len(completed)} completed, {len(missing)} missing)")
    check(duplicates == 0, "and each exactly once")

    print("SIGTERM with a stream in flight: the call runs to its end, then the server stops")
    time.sleep(0.3)  # the restart's replay and flushes are done
    connection = sqlite3.connect(db)
    before = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    connection.close()
    streamed = {}

    def drip():
        try:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True,
                extra_body={"fake": "drip"})
            streamed["text"] = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        except Exception as error:
            streamed["error"] = repr(error)

    thread = threading.Thread(target=drip)
    thread.start()
    time.sleep(0.4)  # the fake streams ten pieces 150 ms apart
    gateway.send_signal(signal.SIGTERM)
    thread.join(15)
    exit_code = gateway.wait(15)
    check("piece 9" in streamed.get("text", ""), f"the stream ran to its end: {streamed}")
    check(exit_code == 0, f"the server then stopped cleanly (exit status {exit_code})")
    connection = sqlite3.connect(db)
    after = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    output = connection.execute("SELECT output FROM events ORDER BY seq DESC LIMIT 1").fetchone()[0]
    connection.close()
    check(after == before + 1 and output > 0, f"and its usage is in the ledger ({after - before} new, {output} output tokens)")
finally:
    gateway.terminate()
    gateway.wait()
    fake.terminate()

if failures:
    print(f"{len(failures)} SDK check(s) failed")
    sys.exit(1)
print("all SDK checks passed")
