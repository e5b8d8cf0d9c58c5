#!/usr/bin/env python3
"""A vector index larger than the RAM the server may use still answers.

Loads N clustered FLOAT32 vectors (COSINE, HNSW M 16, EF_CONSTRUCTION 200) into a server whose
documents spill to the cold tier, saves (the graph becomes a memory-mapped segment file), then
restarts the server inside a cgroup (v1 memory controller) whose limit is below the segment
file's size, and measures recall@10 against brute force, queries per second from one client,
memory (cgroup usage, RssAnon, RssFile) and the major page faults the queries caused.

    cargo build --release -p strata-server
    python3 benches/vectors-beyond-ram.py [--vectors 400000] [--limit-mb 256] [--maxmemory-mb 144]

Needs root (it creates /sys/fs/cgroup/memory/strata-vec-bench), numpy and redis-py. Prints
key=value lines.
"""
import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "strata-server")
CGROUP = "/sys/fs/cgroup/memory/strata-vec-bench"


def clustered(rng, n, dim, centres=1000):
    c = rng.normal(size=(centres, dim)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, centres, n)] + rng.uniform(-0.1, 0.1, (n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def start(port, d, maxmemory_mb, cgroup=None):
    args = [BIN, "--port", str(port), "--dir", d, "--appendonly", "no", "--save", "",
            "--logfile", os.path.join(d, "server.log")]
    if maxmemory_mb:
        args += ["--cold-tier", "yes", "--maxmemory", f"{maxmemory_mb}mb",
                 "--cold-tier-cache-size", "16mb"]
    if cgroup:
        # Join the cgroup, then become the server.
        args = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$0" "$@"'] + args
    p = subprocess.Popen(args)
    r = redis.Redis(port=port, protocol=2, socket_timeout=3600)
    for _ in range(600):
        try:
            if r.ping():
                return p, r
        except redis.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def info(r, idx):
    raw = r.execute_command("FT.INFO", idx)
    return {raw[i].decode(): raw[i + 1] for i in range(0, len(raw), 2)}


def proc(pid):
    st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":" in l)
    kb = lambda k: int(st[k].split()[0]) * 1024
    majflt = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[9])
    return kb("RssAnon"), kb("RssFile"), majflt


def cg(name):
    return int(open(f"{CGROUP}/{name}").read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=400_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--limit-mb", type=int, default=256)
    # The documents spill to the cold tier, but the index's own tables (about 300 bytes per
    # document) count in used_memory and stay in RAM. 0: no cold tier, documents in RAM.
    ap.add_argument("--maxmemory-mb", type=int, default=144)
    ap.add_argument("--port", type=int, default=7672)
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    data = clustered(rng, a.vectors, a.dim)
    qs = data[rng.integers(0, a.vectors, a.queries)] + rng.uniform(-0.05, 0.05, (a.queries, a.dim)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    truth = [set(np.argsort(-(data @ q))[:10].tolist()) for q in qs]
    d = tempfile.mkdtemp(prefix="strata-vec-")
    p = None
    try:
        p, r = start(a.port, d, a.maxmemory_mb)
        r.execute_command(
            "FT.CREATE", "vb", "ON", "HASH", "PREFIX", "1", "vb:", "SCHEMA", "v", "VECTOR", "HNSW",
            "10", "TYPE", "FLOAT32", "DIM", a.dim, "DISTANCE_METRIC", "COSINE", "M", "16",
            "EF_CONSTRUCTION", "200")
        t = time.time()
        for s in range(0, a.vectors, 1000):
            pipe = r.pipeline(transaction=False)
            for i in range(s, min(s + 1000, a.vectors)):
                pipe.hset(f"vb:{i}", "v", data[i].tobytes())
            pipe.execute()
        print(f"vectors={a.vectors} dim={a.dim} insert_per_sec={a.vectors / (time.time() - t):.0f}")
        r.execute_command("SAVE")
        seg = sum(os.path.getsize(os.path.join(d, "search", f))
                  for f in os.listdir(os.path.join(d, "search")) if f.endswith(".usearch"))
        print(f"segment_file_bytes={seg}")
        p.send_signal(signal.SIGKILL)
        p.wait()
        # The segment's pages are in the page cache, charged to this cgroup (the writer's):
        # drop them, so the restarted server reads the file under its own limit.
        for f in os.listdir(os.path.join(d, "search")):
            fd = os.open(os.path.join(d, "search", f), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)

        os.makedirs(CGROUP, exist_ok=True)
        open(f"{CGROUP}/memory.limit_in_bytes", "w").write(str(a.limit_mb << 20))
        t = time.time()
        p, r = start(a.port, d, a.maxmemory_mb, CGROUP)
        while True:
            i = info(r, "vb")
            if int(i["indexing"]) == 0 and int(float(i["num_docs"])) >= a.vectors:
                break
            time.sleep(0.5)
        print(f"cgroup_limit_bytes={a.limit_mb << 20} maxmemory_bytes={a.maxmemory_mb << 20}"
              f" restart_and_refill_seconds={time.time() - t:.1f}")
        print(f"vector_docs_in_ram={int(i['vector_docs_in_ram'])} vector_segments={int(i['vector_segments'])}")
        anon, file, flt0 = proc(p.pid)
        print(f"before_queries_rss_anon={anon} rss_file={file} cgroup_usage={cg('memory.usage_in_bytes')}")
        hits, t = 0, time.time()
        for q, want in zip(qs, truth):
            res = r.execute_command("FT.SEARCH", "vb", "*=>[KNN 10 @v $q]", "PARAMS", "2", "q",
                                    q.tobytes(), "NOCONTENT", "DIALECT", "2")
            hits += len(want & {int(k.decode()[3:]) for k in res[1:]})
        secs = time.time() - t
        anon, file, flt1 = proc(p.pid)
        print(f"recall_at_10={hits / (10 * a.queries):.4f} qps_one_client={a.queries / secs:.0f}"
              f" mean_latency_ms={1000 * secs / a.queries:.2f}")
        print(f"after_queries_rss_anon={anon} rss_file={file} major_faults_during_queries={flt1 - flt0}")
        print(f"cgroup_usage={cg('memory.usage_in_bytes')} cgroup_max_usage={cg('memory.max_usage_in_bytes')}"
              f" cgroup_failcnt={cg('memory.failcnt')}")
    finally:
        if p:
            p.kill()
            p.wait()
        if os.path.isdir(CGROUP):
            try:
                os.rmdir(CGROUP)
            except OSError:
                pass
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
