#!/usr/bin/env python3
"""`make bench`: batch-host against its peers on the member-migration job, side by side.

Runs every variant as a whole process (a fresh repository for each batch-host run, with the
plugins registered and precompiled once), interleaved round by round after a warm-up round, and
prints medians (wall, items/s, peak RSS) with ratios to spring-batch-rs and to the hand-written
program measured in the same run. Every output is verified: byte-identical JSON lines to the
hand-written program's, the skipped rows in the dead-letter table.

Environment: BENCH_ROWS (default 1000000), BENCH_ROUNDS (default 3), BENCH_ONLY (comma list of
variant keys). Results also go to target/bench/results.md.
"""

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/batch-host"
PEERS = ROOT / "target/peers/release"
COMPONENTS = ROOT / "target/components"
WORK = ROOT / "target/bench"
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# The PostgreSQL server the remote-worker variants create their databases on.
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/test")

FT = "      fault-tolerance: { skip: { kinds: [validation], limit: 10000000 }MODEL }\n"


def job(reader, writer, processor=True, ft=True, model="", durability="", concurrency=1, plugin="member-processor"):
    text = "name: bench\n"
    if durability:
        text += f"durability: {durability}\n"
    text += "steps:\n  - name: migrate\n    chunk:\n      size: 1000\n"
    text += f"      reader: {reader}\n"
    if processor:
        extra = f", concurrency: {concurrency}" if concurrency > 1 else ""
        text += f"      processor: {{ plugin: {plugin}{extra} }}\n"
    text += f"      writer: {writer}\n"
    if ft:
        text += FT.replace("MODEL", f", model: {model}" if model else "")
    return text


def partitioned(n, remote=False):
    """(a) as a partitioned step: `n` byte ranges, as many at once as there are cores (or run
    by `batch-host worker` processes)."""
    worker = job(
        "{ builtin: csv, config: { path: members.csv, range: \"${partition.range}\" } }",
        "{ builtin: jsonl, config: { path: \"out-${partition.index}.jsonl\" } }",
    ).replace("  - name: migrate\n", "  - name: worker\n")
    manager = (
        "  - name: migrate\n    partition:\n"
        "      partitioner: { builtin: file-ranges, config: { path: members.csv } }\n"
        f"      grid-size: {n}\n      step: worker\n"
        + ("      workers: remote\n" if remote else "")
    )
    return worker.replace("steps:\n", "steps:\n" + manager)


BUILTIN_CSV = "{ builtin: csv, config: { path: members.csv } }"
BUILTIN_JSONL = "{ builtin: jsonl, config: { path: out.jsonl } }"
WASM_CSV = "{ plugin: csv-reader, config: { path: members.csv } }"
WASM_JSONL = "{ plugin: jsonl-writer, config: { path: out.jsonl, sync: false } }"

# key: (label, job.yaml or None for a peer, data set, how the output is checked)
VARIANTS = {
    "hand": ("hand-written csv + serde_json", None, "members", "reference"),
    "sbrs": ("spring-batch-rs 0.4.1", None, "members", "json-array"),
    "a": ("(a) built-in csv → Wasm member-processor → built-in jsonl, in-place skip", job(BUILTIN_CSV, BUILTIN_JSONL), "members", "identical"),
    "b": ("(b) as (a) with the Wasm csv-reader and jsonl-writer", job(WASM_CSV, WASM_JSONL), "members", "identical"),
    "c": ("(c) built-in csv → built-in jsonl, no processor", job(BUILTIN_CSV, BUILTIN_JSONL, processor=False, ft=False), "members", "all-rows"),
    "d": ("(d) as (a) with model: replay", job(BUILTIN_CSV, BUILTIN_JSONL, model="replay"), "members", "identical"),
    "e": ("(e) as (a) with durability: power-loss", job(BUILTIN_CSV, BUILTIN_JSONL, durability="power-loss"), "members", "identical"),
    "a2": ("(a2) as (a) with `processor: { concurrency: 2 }`", job(BUILTIN_CSV, BUILTIN_JSONL, concurrency=2), "members", "identical"),
    "p1": ("(p1) (a) as a partitioned step, 1 partition", partitioned(1), "members", "identical"),
    "p2": ("(p2) (a) as a partitioned step, 2 partitions", partitioned(2), "members", "identical"),
    "p4": ("(p4) (a) as a partitioned step, 4 partitions (2 at a time)", partitioned(4), "members", "identical"),
    "r1": ("(r1) (a) partitioned in 4, workers: remote, 1 `batch-host worker` (PostgreSQL)", partitioned(4, remote=True), "members", "identical"),
    "r2": ("(r2) as (r1) with 2 `batch-host worker` processes", partitioned(4, remote=True), "members", "identical"),
    "a0": ("(a) on data without invalid rows", job(BUILTIN_CSV, BUILTIN_JSONL), "members-0", "identical-0"),
    "apy": ("(a-py) as (a) with the member processor in Python (componentize-py)", job(BUILTIN_CSV, BUILTIN_JSONL, plugin="member-processor-py"), "members", "identical"),
    "ajs": ("(a-js) as (a) with the member processor in JavaScript (componentize-js)", job(BUILTIN_CSV, BUILTIN_JSONL, plugin="member-processor-js"), "members", "identical"),
}

# The member processor in each language, for the first-item latency of a one-row job.
LANGUAGES = {"a": "Rust", "apy": "Python", "ajs": "JavaScript"}


def sh(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def measure(cmd, cwd, env):
    """Runs `cmd`; wall seconds, peak RSS in MiB, stdout, stderr, exit code.

    The peak RSS comes from GNU time (`%M`): a child forked from this Python process would
    report Python's own memory as its peak.
    """
    rss_file = cwd / ".rss"
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-o", str(rss_file), "-f", "%M", *cmd], cwd=cwd, env=env, capture_output=True)
    wall = time.perf_counter() - start
    rss = int(rss_file.read_text().split()[-1]) / 1024
    return wall, rss, p.stdout.decode(), p.stderr.decode(), p.returncode


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Bench:
    def __init__(self):
        self.data = {}
        self.reference = {}  # data set -> (sha256, written, skipped)
        self.results = {}  # key -> list of (wall, rss)
        self.env = dict(os.environ)
        self.env.pop("BATCH_HOST_CONFIG", None)
        self.env.pop("BATCH_HOST_LOG", None)
        self.env["BATCH_HOST_HOME"] = str(WORK / "home")

    def prepare(self):
        shutil.rmtree(WORK, ignore_errors=True)
        (WORK / "data").mkdir(parents=True)
        gen = ROOT / "tests/data/gen-bench.py"
        for name, rows, pct in [("members", ROWS, 1.0), ("members-0", ROWS, 0.0), ("members-100k", min(ROWS, 100_000), 1.0), ("members-1", 1, 0.0)]:
            path = WORK / "data" / f"{name}.csv"
            sh([sys.executable, str(gen), "--rows", str(rows), "--invalid-pct", str(pct), "--out", str(path)])
            self.data[name] = path
        # Two templates: the Python and JavaScript components (and their artifacts) make a
        # repository of about 100 MB, whose copy before each run would slow the Rust variants.
        for template, plugins in [
            ("template.db", ["member-processor", "csv-reader", "jsonl-writer"]),
            ("template-polyglot.db", ["member-processor-py", "member-processor-js"]),
        ]:
            env = dict(self.env, BATCH_HOST_REPOSITORY=f"sqlite:{WORK / template}")
            for plugin in plugins:
                sh([str(BIN), "plugin", "register", str(COMPONENTS / f"{plugin}.wasm")], env=env, stdout=subprocess.DEVNULL)

    def run(self, key, round_no, data=None):
        self.round = round_no
        label, yaml, default_data, check = VARIANTS[key]
        if data is not None:
            check = "ran"  # the extra runs (100k rows, one row) only have to succeed
        data = data or default_data
        d = WORK / "runs" / f"{key}-{data}-{round_no}"
        shutil.rmtree(d, ignore_errors=True)
        work = d / "work"
        work.mkdir(parents=True)
        os.link(self.data[data], work / "members.csv")
        if yaml is None:
            exe = PEERS / ("hand_written" if key == "hand" else "spring_batch_rs")
            out = work / ("out.jsonl" if key == "hand" else "out.json")
            cmd = [str(exe), "members.csv", out.name]
            env = self.env
        else:
            (work / "job.yaml").write_text(yaml)
            if key.startswith("r"):
                env = dict(self.env, BATCH_HOST_REPOSITORY=self.pg_database(f"bench_{key}_{round_no}"))
                sh([str(BIN), "plugin", "register", str(COMPONENTS / "member-processor.wasm")], env=env, stdout=subprocess.DEVNULL)
            else:
                template = "template-polyglot.db" if key in ("apy", "ajs") else "template.db"
                shutil.copy(WORK / template, d / "repo.db")
                env = dict(self.env, BATCH_HOST_REPOSITORY=f"sqlite:{d / 'repo.db'}")
            cmd = [str(BIN), "run", "job.yaml", "--no-progress"]
            out = work / "out.jsonl"
        workers = []
        if key.startswith("r"):
            for _ in range(int(key[1:])):
                workers.append(subprocess.Popen([str(BIN), "worker", "--concurrency", "1", "--poll", "50ms"], cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wall, rss, stdout, stderr, code = measure(cmd, work, env)
        for w in workers:
            w.terminate()
            w.wait()
        if code != 0:
            sys.exit(f"{label} failed with exit code {code}:\n{stdout}\n{stderr[-4000:]}")
        parts = sorted(work.glob("out-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))
        if parts:
            # A partitioned run: its outputs in partition order are the whole output.
            with open(out, "wb") as whole:
                for p in parts:
                    whole.write(p.read_bytes())
        self.verify(key, check, data, out, stdout, d)
        shutil.rmtree(d, ignore_errors=True)
        if key.startswith("r"):
            sh(["psql", "-q", PG, "-c", f"DROP DATABASE IF EXISTS bench_{key}_{round_no} WITH (FORCE)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return wall, rss

    def pg_url(self, db):
        base = PG.rsplit("/", 1)[0]
        return f"{base}/{db}"

    def pg_database(self, db):
        """A fresh PostgreSQL database for one remote run."""
        for sql in (f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}"):
            sh(["psql", "-q", PG, "-c", sql], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self.pg_url(db)

    def verify(self, key, check, data, out, stdout, d):
        if check == "ran":
            return
        if check == "reference":
            read, written, skipped = map(int, stdout.split())
            self.reference[data] = (sha(out), written, skipped)
            shutil.copy(out, WORK / f"reference-{data}.jsonl")
            return
        ref = self.reference.get("members" if check != "identical-0" else "members-0")
        if check in ("identical", "identical-0"):
            if ref is None:
                self.reference_for(check)
                ref = self.reference["members" if check == "identical" else "members-0"]
            if sha(out) != ref[0]:
                sys.exit(f"{key}: output differs from the hand-written program's ({out})")
            if key.startswith("r"):
                q = subprocess.run(["psql", "-tA", self.pg_url(f"bench_{key}_{self.round}"), "-c", "SELECT COUNT(*) FROM BH_SKIPPED_ITEM"], capture_output=True, text=True, check=True)
                n = int(q.stdout.strip())
            else:
                db = sqlite3.connect(d / "repo.db")
                n = db.execute("SELECT COUNT(*) FROM BH_SKIPPED_ITEM").fetchone()[0]
            if n != ref[2]:
                sys.exit(f"{key}: {n} rows in the dead-letter table, expected {ref[2]}")
        elif check == "all-rows":
            with open(out, "rb") as f:
                n = sum(1 for _ in f)
            if n != ROWS:
                sys.exit(f"{key}: {n} lines, expected {ROWS}")
        elif check == "json-array":
            read, written, skipped = map(int, stdout.split())
            if ref and (written, skipped) != (ref[1], ref[2]):
                sys.exit(f"{key}: wrote {written} and skipped {skipped}, expected {ref[1]} and {ref[2]}")
            if not getattr(self, "checked_array", False):
                # Once: the same members, in the same order, as the hand-written program wrote.
                with open(out) as f:
                    items = json.load(f)
                with open(WORK / "reference-members.jsonl") as f:
                    same = all(json.loads(line) == item for line, item in zip(f, items))
                if not same or len(items) != ref[1]:
                    sys.exit(f"{key}: its JSON array differs from the hand-written program's output")
                self.checked_array = True

    def reference_for(self, check):
        data = "members" if check == "identical" else "members-0"
        self.run_hand(data)

    def run_hand(self, data):
        saved = VARIANTS["hand"]
        VARIANTS["hand"] = (saved[0], None, data, "reference")
        try:
            self.run("hand", "ref")
        finally:
            VARIANTS["hand"] = saved

    def main(self):
        only = [k for k in os.environ.get("BENCH_ONLY", "").split(",") if k]
        keys = [k for k in VARIANTS if not only or k in only or k in ("hand", "sbrs")]
        print(f"make bench: {ROWS} rows, {ROUNDS} rounds after a warm-up, variants {', '.join(keys)}", flush=True)
        self.prepare()
        self.run_hand("members")
        self.run_hand("members-0")
        for round_no in range(ROUNDS + 1):
            for key in keys:
                wall, rss = self.run(key, round_no)
                print(f"  round {round_no}{' (warm-up)' if round_no == 0 else ''}: {key:4} {wall:7.2f} s {rss:7.1f} MiB", flush=True)
                if round_no > 0:
                    self.results.setdefault(key, []).append((wall, rss))
        small = [self.run("a", f"s{i}", data="members-100k") for i in range(2)]
        one = {k: [self.run(k, f"one{i}", data="members-1")[0] for i in range(5)] for k in LANGUAGES if k in keys}
        self.report(small, one)

    def report(self, small, one):
        med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in self.results.items()}
        sb, hw = med["sbrs"][0], med["hand"][0]
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
        host = subprocess.run([str(BIN), "--version"], capture_output=True, text=True).stdout.strip()
        lines = [
            f"{time.strftime('%Y-%m-%d')}, {platform.node()} ({os.cpu_count()} CPUs, {platform.machine()}), {ROWS} rows, medians of {ROUNDS} interleaved rounds after a warm-up; {host}; {rustc}",
            "",
            "| variant | wall | items/s | peak RSS | × spring-batch-rs | × hand-written |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for k in self.results:
            wall, rss = med[k]
            lines.append(f"| {VARIANTS[k][0]} | {wall:.2f} s | {ROWS / wall:,.0f} | {rss:.0f} MiB | {sb / wall:.2f} | {hw / wall:.2f} |")
        lines.append("")
        if "a" in med:
            lines.append(f"- (a) peak RSS: {max(r for _, r in small):.0f} MiB at {min(ROWS, 100_000)} rows, {med['a'][1]:.0f} MiB at {ROWS} rows")
        if "a" in med and "a0" in med:
            lines.append(f"- invalid rows cost: (a) with 1 % invalid takes {med['a'][0] / med['a0'][0]:.2f}× the time of (a) with none")
        if "a" in med and "d" in med:
            lines.append(f"- (d) replay runs at {med['a'][0] / med['d'][0]:.2f}× the speed of (a)")
        for fast, slow, what in [("a2", "a", "processor concurrency 2 over (a)"), ("p2", "p1", "2 local partitions over 1"), ("p4", "p1", "4 local partitions over 1"), ("r2", "r1", "2 remote workers over 1")]:
            if fast in med and slow in med:
                lines.append(f"- speed-up, {what}: {med[slow][0] / med[fast][0]:.2f}×")
        for k, walls in one.items():
            lines.append(f"- a one-item job from registered plugins, member processor in {LANGUAGES[k]}: {statistics.median(walls) * 1000:.0f} ms wall (median of 5)")
        for k in ("apy", "ajs"):
            if k in med and "a" in med:
                lines.append(f"- member processor in {LANGUAGES[k]}: {ROWS / med[k][0]:,.0f} items/s, {med[k][0] / med['a'][0]:.1f}× the time of Rust's")
        text = "\n".join(lines)
        (WORK / "results.md").write_text(text + "\n")
        print()
        print(text)


if __name__ == "__main__":
    for need in [BIN, PEERS / "hand_written", PEERS / "spring_batch_rs", Path("/usr/bin/time")]:
        if not need.exists():
            sys.exit(f"{need} is missing: run `make bench`, which builds it")
    Bench().main()
