"""Load for the OTLP receiver: posts BATCHES export requests of SPANS GenAI spans each (protobuf,
unique trace and span ids, built once before the clock starts) from THREADS connections to
URL/v1/traces, and prints spans per second.

    python3 scripts/bench/otlp_load.py URL KEY [--batches 200] [--spans 500] [--threads 4] [--gzip]
"""
import argparse
import gzip
import http.client
import struct
import threading
import time
import urllib.parse


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number, wire, payload):
    if wire == 0:
        return varint(number << 3) + varint(payload)
    if wire == 1:
        return varint(number << 3 | 1) + struct.pack("<Q", payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def attribute(key, value):
    any_value = field(1, 2, value.encode()) if isinstance(value, str) else field(3, 0, value)
    return field(1, 2, key.encode()) + field(2, 2, any_value)


def request(batch, spans):
    resource = field(1, 2, field(1, 2, attribute("service.name", "bench-app")))
    body = bytearray()
    start = 1_793_613_600_000_000_000 + batch * 1_000_000_000
    for index in range(spans):
        span = bytearray()
        span += field(1, 2, struct.pack(">QQ", batch + 1, index + 1))
        span += field(2, 2, struct.pack(">Q", (batch << 20) + index + 1))
        span += field(5, 2, b"chat gpt-4o-mini")
        span += field(7, 1, start + index * 1000)
        span += field(8, 1, start + index * 1000 + 850_000_000)
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
                           ("gen_ai.request.model", "gpt-4o-mini"), ("gen_ai.usage.input_tokens", 1200 + index % 97),
                           ("gen_ai.usage.output_tokens", 180 + index % 13),
                           ("gen_ai.usage.cache_read.input_tokens", 512), ("user.id", f"user-{index % 50}")):
            span += field(9, 2, attribute(key, value))
        body += field(2, 2, bytes(span))
    return field(1, 2, resource + field(2, 2, bytes(body)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    payloads = [request(b, args.spans) for b in range(args.batches)]
    if args.gzip:
        payloads = [gzip.compress(p, 1) for p in payloads]
    target = urllib.parse.urlparse(args.url)
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {args.key}"}
    if args.gzip:
        headers["Content-Encoding"] = "gzip"
    failures = []

    def worker(slot):
        connection = http.client.HTTPConnection(target.hostname, target.port)
        for payload in payloads[slot::args.threads]:
            connection.request("POST", "/v1/traces", payload, headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body:
                failures.append((response.status, body[:200]))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    spans = args.batches * args.spans
    size = sum(len(p) for p in payloads) / len(payloads)
    print(f"{spans} spans in {args.batches} requests of {args.spans} ({size / 1024:.0f} KiB each"
          f"{', gzip' if args.gzip else ''}), {args.threads} connections: {elapsed:.2f} s, "
          f"{spans / elapsed:,.0f} spans/s; {len(failures)} failed requests")
    if failures:
        print("first failure:", failures[0])
        raise SystemExit(1)


main()
