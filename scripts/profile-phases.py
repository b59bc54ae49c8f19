#!/usr/bin/env python3
"""Shares of a `perf script` (with call stacks) by phase of plughost's request path.

Each sample counts once: for the first phase in PHASES any of whose patterns matches any
frame of its stack. Specific phases come first; wrappers that enclose everything (tokio's
task poll, hyper's dispatcher, the dispatch module) come last, so they take only what
nothing more specific claimed. `profile-phases.py SAMPLES [PHASE]` also lists the leaf
functions of PHASE.
"""
import collections
import re
import sys

PHASES = [
    ("access line", r"access_log|RecentLogs|TextLines|LineBuffer|recent_logs"),
    ("store drop / slot reset", r"drop_in_place<wasmtime::runtime::store|deallocate|decommit|reset_with_pagemap"
     r"|pagemap|StoreOpaque.*drop|Store<.*drop"),
    ("instantiate", r"instantiate|InstancePre|ModuleRegistry|register_module|get_func_ref|lookup_vmdef"
     r"|allocate_module|allocate_memories|InstanceAllocator"),
    ("store / WASI context", r"State::new|WasiCtxBuilder|Store<.*>::new|StoreOpaque::new|new_store|ResourceTable::new"),
    ("kv", r"capability::kv|plugin::kv::|rusqlite|sqlite3"),
    # Guest code: mapped from the compiled cache (.cwasm), or compiled in this process
    # (anonymous memory, which perf names after the process's perf map).
    ("guest call", r"call_handle|TypedFunc|Func::call|lower|lift|canonical|fiber|\.cwasm|perf-\d+\.map"),
    ("metrics", r"telemetry::metrics|prometheus"),
    ("root span, trace id", r"tracing_subscriber|tracing_core|EnvFilter|TraceIds|traces::|trace_id|Span::new|Span::record"),
    ("send (writev, loopback delivery)", r"writev|tcp_sendmsg|sock_write|__x64_sys_write|ip_output|tcp_write"),
    ("receive", r"tcp_recvmsg|sock_read|__x64_sys_read|recvfrom|readv"),
    ("tokio scheduling, context switches", r"tokio::runtime|park|futex|epoll|schedule|finish_task_switch|reschedule_ipi"),
    ("malloc", r"malloc|_int_free|cfree|realloc"),
    ("hyper", r"hyper::|http::header|h1::"),
    ("routing, WIT conversion", r"RoutingTable|matchit|dispatch::|to_wit_request|from_wit_response"),
]
PATTERNS = [(name, re.compile(pattern)) for name, pattern in PHASES]


def samples(path):
    """Each sample's frames, leaf first."""
    frames = []
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if frames:
                    yield frames
                frames = []
            elif line[0] in " \t":
                frames.append(line.strip())
    if frames:
        yield frames


def phase(frames):
    for name, pattern in PATTERNS:
        if any(pattern.search(frame) for frame in frames):
            return name
    return "not attributed"


def symbol(frame):
    return re.sub(r"^[0-9a-f]+ ", "", frame).split(" (")[0][:120]


def main():
    shares, leaves, total = collections.Counter(), collections.Counter(), 0
    wanted = sys.argv[2] if len(sys.argv) > 2 else None
    for frames in samples(sys.argv[1]):
        total += 1
        name = phase(frames)
        shares[name] += 1
        if name == wanted:
            leaves[symbol(frames[0])] += 1
    if not total:
        sys.exit("profile-phases: no samples with call stacks")
    for name, count in shares.most_common():
        print(f"{100 * count / total:5.1f}%  {name}")
    print(f"({total} samples)")
    for leaf, count in leaves.most_common(20):
        print(f"  {100 * count / total:5.2f}%  {leaf}")


if __name__ == "__main__":
    main()
