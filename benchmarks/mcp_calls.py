"""MCP tool-call latency of `mahavishnu mcp serve`, through the SDK's client, stdio and HTTP.

    python benchmarks/mcp_calls.py            # 300 calls of each tool per transport
    python benchmarks/mcp_calls.py --calls 1000

Both servers are real subprocesses (`python -m mahavishnu mcp serve [--http]`) in a throwaway
MAHAVISHNU_HOME, with the default (local ONNX int8) embedder. Calls are sequential from one client
session: the figures are round trips (client encode -> transport -> tool in a worker thread -> back).
Also prints the throughput of 200 concurrent calls over HTTP.

    get_memory    a primary-key read: transport + dispatch overhead
    list_llms     settings load + profile catalogue (no store)
    search_memory hybrid search of a 50-row store, query embedded by the local model

Measured on this machine type (2 cores shared with other jobs; p50/p95 ms, quiet run / load 6-11):

    stdio  get_memory 1.5/5.7 | 2.0/7.1   list_llms 5.6/10.9 | 4.5/11.3   search_memory 9.4/16.0 | 9.5/23.0
    http   get_memory 3.1/4.8 | 4.6/9.2   list_llms 5.1/7.3 | 9.2/15.6    search_memory 11.1/16.8 | 16.0/27.6
    http   200 concurrent get_memory calls on one session: 0.9 s | 1.5 s
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import percentile

TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("get_memory", {"memory_id": 1}),
    ("list_llms", {}),
    ("search_memory", {"query": "sqlite journal mode", "limit": 5}),
]


async def measure(client: Client, calls: int) -> dict[str, list[float]]:
    for i in range(50):
        await client.call_tool("store_memory", {"content": f"note {i}: use WAL mode for sqlite {i}"})
    samples: dict[str, list[float]] = {}
    for name, args in TOOLS:
        for _ in range(10):  # warm-up
            await client.call_tool(name, args)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool(name, args)
            times.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result.content
        samples[name] = times
    return samples


async def concurrent(client: Client, n: int) -> float:
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(client.call_tool, "get_memory", {"memory_id": 1})
    return time.perf_counter() - started


def report(transport: str, samples: dict[str, list[float]]) -> None:
    for name, times in samples.items():
        print(
            f"{transport:<6} {name:<14} p50 {percentile(times, 50):6.2f} ms   "
            f"p95 {percentile(times, 95):6.2f} ms   ({len(times)} calls)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "MAHAVISHNU_HOME": f"{tmp}/stdio"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "mahavishnu", "mcp", "serve"], env=env
        )

        async def stdio() -> None:
            async with Client(params) as client:
                report("stdio", await measure(client, args.calls))

        anyio.run(stdio)

        port = free_port()
        env = {**env, "MAHAVISHNU_HOME": f"{tmp}/http"}
        argv = [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--port", str(port)]
        server = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/mcp"

            async def http() -> None:
                async with Client(url) as client:
                    report("http", await measure(client, args.calls))
                    seconds = await concurrent(client, 200)
                    print(f"http   200 concurrent get_memory calls: {seconds * 1000:.0f} ms")

            anyio.run(http)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
