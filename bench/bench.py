"""Pulse's benchmarks: every workload of bench/README.md in one run, written
to bench/RESULTS.md with a plot. Run it through `bench/run`, which installs
what it needs and builds the release binaries first.

What must stay true: every figure in RESULTS.md was measured in this run on
this machine, ratios are between figures of the same run, each peer's answer
is checked against Pulse's before its time is reported, and every server and
process this starts is stopped when it ends, failure included.
"""

import argparse
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
END = "2026-11-20T00:00:00Z"  # T: the end of the generated history
SEED = "42"
# the Cargo profile bench/run builds (Cargo.toml's profile.dist), which the
# report names
BUILD = "dist"

SCALES = {
    # name: (orders over 31 days, customers); 3 batches: hours between them
    "sf1": (1_000_000, 100_000),
    "sf10": (10_000_000, 1_000_000),
}
BATCH_EVERY_HOURS = "248"  # 31 days / 3
PUSHDOWN_DAYS = 90
PUSHDOWN_ORDERS_PER_DAY = 1_000_000 / 31
# issue 16: the pushdown query's planning should not grow with the number
# of partitions (one look-up round trip for all of them, the checking
# fetches of all partitions in one request). Measured on small topics of the
# same orders split 1, 8 and 64 ways; the target allows 1.5× between the
# fewest and the most, and names what the broker's look-ups take alone.
# Planning takes tens of milliseconds here, so each figure is the median of
# at least PLANNING_RUNS runs.
PLANNING_PARTITIONS = [1, 8, 64]
PLANNING_RUNS = 5
PLANNING_ORDERS_PER_DAY = 240
PLANNING_SPREAD = 1.5

# noida-db 0.2.3 answers a fetch with the rest of the partition, whatever
# fetch.max.bytes says; librdkafka refuses a response over
# receive.message.max.bytes (100 MB by default) as BadMessage. Raised for
# Pulse and for the consume floor alike.
RECEIVE_MAX = "2000000000"

ENGINES = ["pulse", "duckdb", "polars", "datafusion", "spark"]
WORKLOADS = ["scan", "pushdown", "answers", "lake", "live", "cluster", "tansu"]
ENGINE_NAMES = {
    "pulse": "Pulse", "duckdb": "DuckDB", "polars": "Polars",
    "datafusion": "DataFusion-Python", "spark": "Spark local (pyspark)",
}


NOTES = [
    "noida-db 0.2.3 answers a fetch with the rest of the partition whatever `fetch.max.bytes` says (a "
    "real Kafka broker honours it); librdkafka refuses such a response over `receive.message.max.bytes` as "
    "BadMessage, so Pulse (`--kafka-option kafka.client.receive.message.max.bytes=2000000000`) and the "
    "consume floor (`-X`) both raise it. The oversized responses are held in memory: at SF10 the consume "
    "floor alone peaks near 5 GB, so peak RSS from this broker measures the broker, not Pulse.",
    "The broker, the consumers and the decoders share the same 2 cores; the consume floor is what "
    "librdkafka alone gets from this broker on them, so a scan that also decodes cannot reach it. "
    "What costs what, and the plan for the gaps: bench/README.md, \"Where Pulse stands\".",
    "Every engine gets the same files: the JSON lines are the topic's messages byte for byte (1 message in "
    "about 2000 is malformed and 1 in 500 is a duplicate, by design); the Parquet file holds the well-formed "
    "messages, typed, with their `_partition` and `_offset`.",
    "Positions: DuckDB and Polars number the JSON lines; Spark and DataFusion-Python give JSON rows no line "
    "number, which only matters for duplicates that disagree (the generator's copies are identical). On "
    "Parquet every engine orders duplicates by (_partition, _offset). Customer rows are ordered by batch, "
    "file and row everywhere (DataFusion-Python: rows numbered as DataFusion reads each batch file).",
    "The live answer (§6): a live session keeps the answer's state between queries (`engine/src/live/`): "
    "each customer's window sums, moved by the new messages and by the orders the window's edges crossed, "
    "and the customers' industries, held while the batches are the same. A warm tick takes the statement's "
    "cut (the watermarks), reads the new offsets through the decoded-log cache, moves the state and runs the "
    "rest of the answer over one row per customer (100,000 at SF1, 1,000,000 at SF10: most of the 0.2 s of a "
    "tick with nothing new at SF10). Scan consumers now close off the query's thread: dropped in a query, a "
    "consumer in a group waited 100 ms for its group to close, 100-200 ms of every query before. The kept "
    "state is built like a cold query (the cold column), and is not bounded by `--cache-memory`: "
    "`pulse_live`'s estimate is in the table. A probe seen as a row of `orders` pays the broker's "
    "offsets_for_times for the `_timestamp` seek on every poll (noida-db: 1.9 s at 10M messages); seen in "
    "the answer's state it pays none. The latency runs on noida-db on the same 2 cores: the broker "
    "rewrites its store after writes, and every poll waits on it.",
    "Tansu (§8) serves fetches from SQLite: 34k messages/s with 1M messages in a topic, about 2k/s with 10M "
    "(200,000 messages of one partition of `orders_sf10` took 98 s, read by hand after the run), so its "
    "figures are the broker's, and its SF10 answer stopped on the scan's 120 s no-progress timeout "
    "(`kafka.timeout`); `bench/run` now runs Tansu at SF1 only.",
    "Pulse runs with its defaults: `target_partitions` = cores; `pulse answer`'s `--memory-limit` is 80% of the "
    "machine's memory (2G before 2026-12-03). "
    "The peers run with theirs (Spark: local[*], driver memory 4g, 8 shuffle partitions).",
]


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- processes: wall time and peak RSS of a whole process tree ----------------

def _tree_rss_kb(root_pid):
    """RSS (kB) of `root_pid` and all its descendants, from /proc."""
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class Run:
    """One finished process: stdout, stderr, wall seconds, peak RSS in MB."""

    def __init__(self, argv, stdout, stderr, code, seconds, peak_mb):
        self.argv, self.stdout, self.stderr = argv, stdout, stderr
        self.code, self.seconds, self.peak_mb = code, seconds, peak_mb

    def check(self):
        if self.code != 0:
            raise RuntimeError(
                f"{' '.join(map(str, self.argv))} exited with {self.code}:\n{self.stderr[-3000:]}")
        return self


def run(argv, env=None, cwd=None, curve=None):
    """Runs `argv`, timing it and sampling its process tree's RSS; with a
    list as `curve`, appends (seconds, MB) to it twice a second."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        last = 0.0
        while not done.wait(0.05):
            rss = _tree_rss_kb(proc.pid)
            peak[0] = max(peak[0], rss)
            now = time.perf_counter() - started
            if curve is not None and now - last >= 0.5:
                curve.append((round(now, 2), rss / 1024))
                last = now

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return Run(argv, out, err, proc.returncode, seconds, peak[0] / 1024)


# --- the broker -------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A broker process on a free loopback port, in its own process group,
    stopped on exit. `table_options` are the Kafka table options Pulse needs
    with it (`kafka_option`: the same as command-line arguments), and
    `floor_option` the consume floor's librdkafka settings."""

    name = "?"
    # a fetch can take seconds on these brokers: the scan's no-progress
    # timeout is raised from 10 s
    table_options = {"kafka.timeout": "120s"}
    floor_option = []

    @property
    def kafka_option(self):
        return [a for k, v in self.table_options.items() for a in ("--kafka-option", f"{k}={v}")]

    def _start(self, data_dir, argv, ready, cwd=None, env=None):
        """Starts `argv` (a list built from `self.port`) on an empty
        `data_dir`, logging beside it, and waits until `ready()`."""
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        self.log = open(data_dir.parent / f"{data_dir.name}.log", "w")
        self.proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_open(ready)

    def _wait_open(self, ready):
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not open {self.address} within 30 s; see {self.log.name}")

    def wait_idle(self, seconds=3.0, limit=600):
        """Waits until the broker has used no CPU for `seconds` (noida-db
        writes its whole store to disk after a burst of writes), so that it
        does not compete with what is measured next."""
        pids = [self.proc.pid] + [int(p) for p in subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout.split()]

        def ticks():
            total = 0
            for pid in set(pids):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
                except (OSError, IndexError, ValueError):
                    pass
            return total

        started = time.time()
        last, quiet_since = ticks(), time.time()
        while time.time() - started < limit:
            time.sleep(0.5)
            now = ticks()
            if now != last:
                last, quiet_since = now, time.time()
            elif time.time() - quiet_since >= seconds:
                log(f"{self.name} idle after {time.time() - started:.0f} s")
                return
        log(f"{self.name} still busy after {limit} s; measuring anyway")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


class Broker(Server):
    """noida-db on an empty data folder (it keeps every topic in one JSON
    file and reloads it at start, slowly)."""

    name = "noida-db 0.2.3"
    # noida-db answers a fetch with the rest of the partition, whatever
    # fetch.max.bytes says; librdkafka refuses a response over
    # receive.message.max.bytes (100 MB by default) as BadMessage. Raised
    # for Pulse and for the consume floor alike.
    table_options = {**Server.table_options, "kafka.client.receive.message.max.bytes": RECEIVE_MAX}
    floor_option = ["-X", f"receive.message.max.bytes={RECEIVE_MAX}"]

    def __init__(self, venv, data_dir):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._start(data_dir, [venv / "bin" / "noida-db", "start", "--host", "127.0.0.1", "--only", "kafka",
                               "--kafka-port", self.port, "--data-dir", data_dir],
                    lambda: "kafka " in Path(self.log.name).read_text())


class Tansu(Server):
    """Tansu 0.6 with its libSQL (SQLite) storage, on an empty database: the
    second broker. Unlike noida-db it caps a fetch response at the client's
    `fetch.max.bytes` and answers `offsets_for_times` with an SQL query, so
    Pulse runs with librdkafka's default limits against it."""

    name = "Tansu 0.6.0 (libSQL)"
    # a fetch from a partition of 480k messages once took over 120 s (the
    # pushdown topic without pushdown, 2026-12-01 22:20)
    table_options = {**Server.table_options, "kafka.timeout": "600s"}

    def __init__(self, binary, data_dir):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        # a sqlite:// path is relative to the working folder
        # the binary resolved first: it runs in data_dir
        self._start(data_dir, [Path(binary).resolve(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "sqlite://tansu.db"],
                    lambda: True, cwd=data_dir, env={**os.environ, "RUST_LOG": "warn"})


# --- Pulse ------------------------------------------------------------------

class Pulse:
    def __init__(self, target):
        self.bin = target / BUILD / "pulse"
        self.floor = target / BUILD / "pulse-bench"

    def sql(self, sources, *statements):
        argv = [self.bin, "sql", *sources, "--format", "csv"]
        for s in statements:
            argv += ["-c", s]
        return run(argv).check()

    @staticmethod
    def elapsed(r):
        """datafusion-cli's 'Elapsed N seconds.' lines, in order."""
        return [float(x) for x in re.findall(r"Elapsed ([0-9.]+) seconds", r.stdout + r.stderr)]


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text.strip())))
    return rows[0], rows[1:]


def last_csv_table(text):
    """The last CSV result in datafusion-cli output (header + rows)."""
    blocks, block = [], []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("Elapsed", "0 row", "1 row")) or re.match(r"^\d+ row", line):
            if block:
                blocks.append(block)
                block = []
            continue
        block.append(line)
    if block:
        blocks.append(block)
    return parse_csv("\n".join(blocks[-1])) if blocks else ([], [])


# --- data -------------------------------------------------------------------

def generate(pulse, data, scale, broker, produce=True):
    orders, customers = SCALES[scale]
    d = data / scale
    per_day = f"{orders / 31:.3f}"
    common = ["--seed", SEED, "--customers", str(customers), "--days", "31", "--orders-per-day", per_day,
              "--end", END, "--batch-every-hours", BATCH_EVERY_HOURS]
    stamp = d / "generated.json"
    want = {"args": common, "export": "timestamps in microseconds"}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        log(f"{scale}: files already generated in {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        log(f"{scale}: generating {orders:,} orders and {customers:,} customers into {d}")
        run([pulse.bin, "generate", *common, "--customers-out", d / "customers",
             "--orders-out", d / "orders.jsonl"]).check()
        log(f"{scale}: writing orders.parquet")
        pulse.sql(["--orders", d / "orders.jsonl", "--customers", d / "customers"],
                  # times in microseconds, the unit every peer reads (Spark refuses
                  # Parquet's nanoseconds); the generator's times are milliseconds
                  "COPY (SELECT order_id, customer_id, order_line, amount, "
                  "arrow_cast(\"timestamp\", 'Timestamp(Microsecond, Some(\"UTC\"))') AS \"timestamp\", "
                  "_partition, _offset "
                  f"FROM orders WHERE _error IS NULL) TO '{d / 'orders.parquet'}' STORED AS PARQUET")
        stamp.write_text(json.dumps(want))
    if produce:
        log(f"{scale}: producing the same orders to topic orders_{scale} (6 partitions) on {broker.address}")
        run([pulse.bin, "generate", *common, "--brokers", broker.address, "--topic", f"orders_{scale}",
             "--partitions", "6"]).check()
    return d


def generate_pushdown_topic(pulse, data, broker, orders_per_day=PUSHDOWN_ORDERS_PER_DAY, partitions=6, topic=None):
    topic = topic or f"orders_{PUSHDOWN_DAYS}d"
    log(f"pushdown: producing {PUSHDOWN_DAYS} days of orders ({orders_per_day:,.0f} a day) to topic {topic} "
        f"({partitions} partitions)")
    run([pulse.bin, "generate", "--seed", SEED, "--customers", "100000", "--days", str(PUSHDOWN_DAYS),
         "--orders-per-day", f"{orders_per_day:.3f}", "--end", END, "--brokers", broker.address,
         "--topic", topic, "--partitions", str(partitions)]).check()
    return topic


def generate_planning_topics(pulse, data, broker):
    """The topics of `planning_by_partitions`: the same orders (the same
    seed, days and daily rate) split into each of PLANNING_PARTITIONS."""
    return {n: generate_pushdown_topic(pulse, data, broker, PLANNING_ORDERS_PER_DAY, n,
                                       f"orders_{PUSHDOWN_DAYS}d_{n}p")
            for n in PLANNING_PARTITIONS}


# --- workloads --------------------------------------------------------------

SCAN = "SELECT count(*) AS n, sum(amount) AS total FROM orders"


def scan_throughput(pulse, scale, d, broker, repeat):
    topic = f"orders_{scale}"
    kafka = ["--brokers", broker.address, "--topic", topic, *broker.kafka_option, "--customers", d / "customers"]
    result = {"scale": scale}
    pulse_s, consume_s, decode_s, file_s = [], [], [], []
    for i in range(repeat):
        r = pulse.sql(kafka, SCAN)
        pulse_s.append(Pulse.elapsed(r)[-1])
        result["pulse_mb"] = max(result.get("pulse_mb", 0), r.peak_mb)
        _, rows = last_csv_table(r.stdout)
        result["rows"] = int(rows[0][0])
        floor = run([pulse.floor, "consume", "--brokers", broker.address, "--topic", topic, *broker.floor_option]).check()
        result["consume_mb"] = max(result.get("consume_mb", 0), floor.peak_mb)
        c = json.loads(floor.stdout)
        consume_s.append(c["seconds"])
        result["messages"], result["bytes"] = c["messages"], c["bytes"]
        f = pulse.sql(["--orders", d / "orders.jsonl", "--customers", d / "customers"], SCAN)
        file_s.append(Pulse.elapsed(f)[-1])
        if i == 0:
            dec = json.loads(run([pulse.floor, "decode", "--file", d / "orders.jsonl", "--threads", "2"])
                             .check().stdout)
            result["decode_messages"], result["decode_bytes"] = dec["messages"], dec["bytes"]
        dec = json.loads(run([pulse.floor, "decode", "--file", d / "orders.jsonl", "--threads", "2"])
                         .check().stdout)
        decode_s.append(dec["seconds"])
    result.update(pulse_s=statistics.median(pulse_s), consume_s=statistics.median(consume_s),
                  decode_s=statistics.median(decode_s), file_s=statistics.median(file_s))
    log(f"scan {scale}: pulse {result['messages'] / result['pulse_s']:,.0f} msg/s, consume floor "
        f"{result['messages'] / result['consume_s']:,.0f} msg/s, decode floor "
        f"{result['decode_messages'] / result['decode_s']:,.0f} msg/s")
    return result


def messages_read(explain_text):
    """The sum of the scan's `messages_read` metrics (DataFusion prints
    large counts with a unit: 47.32 K)."""
    units = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}
    found = re.findall(r"messages_read=([0-9.]+)\s*([KMB]?)", explain_text)
    return int(sum(float(n) * units[u] for n, u in found))


def pushdown_window():
    """The WHERE clause of the pushdown query: the last 24 hours before END."""
    t = datetime.fromisoformat(END.replace("Z", "+00:00"))
    lo = (t - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hi = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"WHERE \"timestamp\" >= TIMESTAMP '{lo}' AND \"timestamp\" < TIMESTAMP '{hi}'"


def kafka_table(broker, topic, name, options):
    """CREATE EXTERNAL TABLE `name` over `topic` with the broker's table
    options and `options` (", 'key' 'value'" pairs)."""
    table_options = "".join(f", '{k}' '{v}'" for k, v in broker.table_options.items())
    return (f"CREATE EXTERNAL TABLE {name} STORED AS KAFKA LOCATION 'kafka://{broker.address}/{topic}' "
            f"OPTIONS ('kafka.malformed' 'dead_letter'{table_options}{options})")


def pushdown(pulse, d_sf1, broker, topic, repeat, planning_topics=None):
    where = pushdown_window()
    sources = ["--brokers", broker.address, "--topic", topic, *broker.kafka_option, "--customers", d_sf1 / "customers"]

    def create(name, options):
        return kafka_table(broker, topic, name, options)

    out = {}
    for name, table, pre in [
        ("on", "orders", []),
        ("on, broker trusted", "orders_trusted", [create("orders_trusted", ", 'kafka.timestamp_lookup' 'broker'")]),
        ("off", "orders_nopush", [create("orders_nopush", ", 'kafka.pushdown' 'false'")]),
    ]:
        query = f"SELECT count(*) AS n, sum(amount) AS total FROM {table} {where}"
        times = []
        for _ in range(repeat):
            r = pulse.sql(sources, *pre, query)
            times.append(Pulse.elapsed(r)[-1])
            _, rows = last_csv_table(r.stdout)
        # the cut records each partition's watermarks: their sum is the topic's size
        explain = pulse.sql(sources, *pre, f"EXPLAIN ANALYZE {query}",
                            f"SELECT sum(end_offset - start_offset) FROM pulse_cut() WHERE topic = '{topic}'")
        planning = Pulse.elapsed(pulse.sql(sources, *pre, f"EXPLAIN {query}"))[-1]
        out[name] = {"seconds": statistics.median(times), "rows": int(rows[0][0]),
                     "messages_read": messages_read(explain.stdout), "planning_s": planning}
        if name == "off":
            out["topic_messages"] = int(last_csv_table(explain.stdout)[1][0][0])
    log("pushdown: " + ", ".join(f"{k} {v['seconds']:.3f} s reading {v['messages_read']:,}"
                                 for k, v in out.items() if isinstance(v, dict)))
    if planning_topics:
        out["planning"] = planning_by_partitions(pulse, d_sf1, broker, planning_topics, repeat)
    return out


def planning_by_partitions(pulse, d_sf1, broker, topics, repeat):
    """The pushdown query's planning (`EXPLAIN`: the cut, the broker's
    timestamp look-ups and Pulse's checking fetches) on topics of the same
    orders split into 1, 6 and 24 partitions, with the look-ups checked
    (the default) and trusted (`'kafka.timestamp_lookup' 'broker'`: no
    checking fetches, so what is left is the cut and the broker's
    look-ups). Medians of `repeat` runs, and at least PLANNING_RUNS."""
    out = []
    for n, topic in topics.items():
        sources = ["--brokers", broker.address, "--topic", topic, *broker.kafka_option,
                   "--customers", d_sf1 / "customers"]
        row = {"partitions": n}
        for name, table, pre in [
            ("checked", "orders", []),
            ("trusted", "orders_trusted",
             [kafka_table(broker, topic, "orders_trusted", ", 'kafka.timestamp_lookup' 'broker'")]),
        ]:
            query = f"EXPLAIN SELECT count(*) AS n, sum(amount) AS total FROM {table} {pushdown_window()}"
            times = [Pulse.elapsed(pulse.sql(sources, *pre, query))[-1] for _ in range(max(repeat, PLANNING_RUNS))]
            row[f"{name}_s"] = statistics.median(times)
        out.append(row)
        log(f"pushdown planning, {n} partitions: {row['checked_s']:.3f} s checked, {row['trusted_s']:.3f} s trusted")
    return out


def answer_pulse(pulse, sources):
    r = run([pulse.bin, "answer", *sources, "--as-of", END, "--all", "--format", "csv"])
    return r, (parse_csv(r.stdout) if r.code == 0 else None)


def failure(r):
    """The line of a failed run's stderr that says why."""
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    return next((x for x in reversed(lines) if "rror" in x), lines[-1] if lines else "")[:300]


def answer_peer(venv, engine, orders, customers):
    r = run([venv / "bin" / "python", PEERS / f"answer_{engine}.py", "--orders", orders,
             "--customers", customers, "--as-of", END],
            env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": str(PEERS)})
    if r.code != 0:
        return r, None
    return r, parse_csv(r.stdout)


def same_answer(expected, got):
    """None when `got` has Pulse's 10 rows and figures (relative 1e-9), else why not."""
    (h1, rows1), (h2, rows2) = expected, got
    if h1 != h2:
        return f"columns differ: {h2}"
    if len(rows1) != len(rows2):
        return f"{len(rows2)} rows, not {len(rows1)}"
    for a, b in zip(rows1, rows2):
        for name, x, y in zip(h1, a, b):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return f"rank {a[0]}: {name} is {y!r}, Pulse says {x!r}"
            if abs(fx - fy) > 1e-9 * max(1.0, abs(fx), abs(fy)):
                return f"rank {a[0]} ({a[1]}): {name} is {y}, Pulse says {x}"
    return None


def checked(r, got, all_s, peak, reference, **labels):
    """A run's entry: `labels`, its times and RSS, and whether its answer
    (`got`) is `reference`'s (with why not)."""
    why = None if got is None or reference is None else same_answer(reference, got)
    entry = {**labels, "seconds": r.seconds, "peak_mb": peak, "all_s": all_s,
             "equal": got is not None and reference is not None and why is None}
    if got is None:
        entry["error"] = failure(r)
    elif reference is None:
        entry["error"] = "no reference answer to compare with"
    elif why:
        entry["error"] = f"different answer: {why}"
    return entry


def repeated(repeat, one):
    """`one()` run `repeat` times: the run of median wall time, with every
    run's seconds and the highest peak RSS of them; the first failure stops
    it and is what is returned."""
    runs = []
    for _ in range(repeat):
        r, got = one()
        runs.append((r, got))
        if got is None:
            return r, got, [r.seconds], r.peak_mb
    times = sorted(runs, key=lambda x: x[0].seconds)
    r, got = times[len(times) // 2]
    return r, got, [x[0].seconds for x in runs], max(x[0].peak_mb for x in runs)


def answers(pulse, venv, scale, d, broker, engines, repeat):
    out = {"scale": scale, "runs": [], "repeat": repeat}
    kafka = ["--brokers", broker.address, "--topic", f"orders_{scale}", *broker.kafka_option, "--customers", d / "customers"]
    r, from_kafka, all_s, peak = repeated(repeat, lambda: answer_pulse(pulse, kafka))
    entry = {"engine": "pulse", "input": "kafka", "seconds": r.seconds, "peak_mb": peak, "all_s": all_s,
             "equal": from_kafka is not None}
    if from_kafka is None:
        entry["error"] = failure(r)
    out["runs"].append(entry)
    log(f"answer {scale} from Kafka: {r.seconds:.2f} s, {r.peak_mb:.0f} MB, {entry.get('error', 'ok')}")
    reference = from_kafka
    for fmt in ["jsonl", "parquet"]:
        orders = d / f"orders.{fmt}"
        for engine in engines:
            if engine == "pulse":
                r, got, all_s, peak = repeated(
                    repeat, lambda: answer_pulse(pulse, ["--orders", orders, "--customers", d / "customers"]))
            else:
                r, got, all_s, peak = repeated(repeat, lambda: answer_peer(venv, engine, orders, d / "customers"))
            if reference is None and engine == "pulse" and got is not None:
                reference = got  # Kafka failed: Pulse on the first file is the reference
            entry = checked(r, got, all_s, peak, reference, engine=engine, input=fmt)
            out["runs"].append(entry)
            state = "same answer" if entry["equal"] else f"NOT COMPARABLE: {entry.get('error')}"
            log(f"answer {scale} {fmt} {engine}: {r.seconds:.2f} s, {r.peak_mb:.0f} MB, {state}")
    out["top3"] = [row[1] for row in reference[1][:3]] if reference else []
    if "pulse" in engines:
        out["profile"] = {fmt: profile_answer(pulse, ["--orders", d / f"orders.{fmt}", "--customers", d / "customers"])
                          for fmt in ["jsonl", "parquet"]}
    return out


# Where a profile's samples go, by the first pattern a symbol matches
# (issue 16: "the profile of what is left"); a symbol matching none is "other".
PROFILE_PARTS = [
    ("reading JSON (Pulse's reader, numbers, decimals, times)",
     ["pulse_engine::messages", "rfc3339", "from_utf8", "memchr"]),
    ("reading Parquet (decoding, decompressing)", ["parquet::", "zstd", "snap::", "ZSTD_"]),
    ("grouping tables (the order ids, the customers), packed keys, `earliest`",
     ["earliest", "ArrowBytes", "GroupValues", "hashbrown", "short_keys"]),
    ("accumulators (sums, counts) and joins", ["aggregates::", "groups_accumulator", "joins::", "hash_utils"]),
    ("Arrow kernels (filters, casts, takes, concatenation)", ["arrow_select", "arrow_cast", "arrow_arith",
                                                              "arrow_ord", "arrow_string", "arrow_data"]),
    ("copies and memory (memmove, the allocator)", ["memmove", "memcpy", "memset", "mi_", "_mi_"]),
    ("the kernel (page faults, reads, scheduling)", ["[k]"]),
]
PROFILE_TOP = 15


def profile_answer(pulse, sources):
    """`perf record` (user and kernel time, 499 samples a second, no call
    graphs) of one more `pulse answer` on `sources`, after the timed runs:
    the share of samples of each part of PROFILE_PARTS and the PROFILE_TOP
    symbols that took the most. Without `perf` (bench/run installs
    linux-perf), says so."""
    if not shutil.which("perf"):
        return {"error": "perf is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        r = run(["perf", "record", "-F", "499", "-o", data, "--", pulse.bin, "answer", *sources, "--as-of", END,
                 "--all", "--format", "csv"])
        if r.code != 0:
            return {"error": failure(r)}
        report = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                      "--percent-limit", "0.05"])
        if report.code != 0:
            return {"error": failure(report)}
    rows = []
    for line in report.stdout.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+(\[[.k]\])\s+(.*)", line)
        if m:
            # the symbol, without the padding and IPC columns after it
            symbol = re.split(r"\s{2,}", m.group(4).strip())[0]
            rows.append((float(m.group(1)), m.group(2), m.group(3), symbol))
    parts = {name: 0.0 for name, _ in PROFILE_PARTS}
    parts["other"] = 0.0
    for share, _, kind, symbol in rows:
        text = f"{kind} {symbol}"
        name = next((n for n, patterns in PROFILE_PARTS if any(x in text for x in patterns)), "other")
        parts[name] += share
    # the symbols under the report's limit are "other" too
    parts["other"] = max(0.0, 100.0 - sum(v for k, v in parts.items() if k != "other"))
    return {"wall_s": r.seconds, "parts": parts,
            "top": [{"share": share, "where": dso, "symbol": symbol} for share, dso, _, symbol in rows[:PROFILE_TOP]]}


def second_broker(pulse, tansu_bin, data, repeat):
    """The Kafka workloads again on Tansu, a broker that honours the
    client's fetch limits and answers timestamp look-ups itself: the
    scan against its consume floor, the pushdown query, and the answer from
    Kafka with its peak RSS, checked equal to Pulse's answer from the
    JSON-lines file. The broker's own speed bounds every figure here: it
    serves fetches from SQLite, and at SF10 (10M messages) a fetch slows to
    about 2k messages/s, so an answer would take over an hour: SF1 only
    (the run of 2026-12-01 stopped on the scan's 120 s no-progress timeout
    at SF10)."""
    tansu = Tansu(tansu_bin, data / "tansu")
    try:
        d = generate(pulse, data, "sf1", tansu)
        # a tenth of §2's daily rate: the query without pushdown reads the
        # whole topic from SQLite, which took 190 s and once over 11 minutes
        # at the full rate (2026-12-01); fewer orders a day leave the
        # pushed-down query less to gain, so the ratio is not flattered
        topic = generate_pushdown_topic(pulse, data, tansu, PUSHDOWN_ORDERS_PER_DAY / 10)
        planning_topics = generate_planning_topics(pulse, data, tansu)
        tansu.wait_idle()
        out = {"broker": tansu.name, "scan": [scan_throughput(pulse, "sf1", d, tansu, repeat)],
               "pushdown": pushdown(pulse, d, tansu, topic, repeat, planning_topics), "answers": []}
        _, reference = answer_pulse(pulse, ["--orders", d / "orders.jsonl", "--customers", d / "customers"])
        kafka = ["--brokers", tansu.address, "--topic", "orders_sf1", *tansu.kafka_option,
                 "--customers", d / "customers"]
        r, got, all_s, peak = repeated(repeat, lambda: answer_pulse(pulse, kafka))
        entry = checked(r, got, all_s, peak, reference, scale="sf1")
        out["answers"].append(entry)
        log(f"tansu: answer sf1 from Kafka {r.seconds:.2f} s, {peak:,.0f} MB, "
            f"{'same answer' if entry['equal'] else entry.get('error')}")
        return out
    finally:
        tansu.stop()


class Cluster:
    """`pulse scheduler` and `executors` `pulse executor`s (each with a task
    slot per core) on free loopback ports, stopped on exit."""

    def __init__(self, pulse, executors, log_dir):
        port = free_port()
        self.url = f"df://127.0.0.1:{port}"
        self.log = open(log_dir / "cluster.log", "w")
        self.procs = [subprocess.Popen([pulse.bin, "scheduler", "--bind", f"127.0.0.1:{port}"],
                                       stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)]
        time.sleep(1)
        for _ in range(executors):
            self.procs.append(subprocess.Popen(
                [pulse.bin, "executor", "--bind", f"127.0.0.1:{free_port()}", "--grpc-port", str(free_port()),
                 "--scheduler", self.url], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True))
        time.sleep(3)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        self.log.close()


def cluster(pulse, scale, d, broker, repeat):
    """The answer on a Ballista cluster of Pulse processes (1 and 2
    executors) against local mode, from the JSON lines, the Parquet export
    and Kafka; every clustered answer is checked against the local one."""
    sources = {
        "jsonl": ["--orders", d / "orders.jsonl", "--customers", d / "customers"],
        "parquet": ["--orders", d / "orders.parquet", "--customers", d / "customers"],
        "kafka": ["--brokers", broker.address, "--topic", f"orders_{scale}", *broker.kafka_option,
                  "--customers", d / "customers"],
    }
    out = {"scale": scale, "repeat": repeat, "runs": []}
    reference = {}
    for fmt, src in sources.items():
        r, got, all_s, peak = repeated(repeat, lambda: answer_pulse(pulse, src))
        reference[fmt] = got
        entry = {"input": fmt, "mode": "local", "seconds": r.seconds, "all_s": all_s, "peak_mb": peak,
                 "equal": got is not None}
        if got is None:
            entry["error"] = failure(r)
        out["runs"].append(entry)
        log(f"cluster {scale} {fmt} local: {r.seconds:.2f} s {entry.get('error', '')}")
    for executors in (1, 2):
        with Cluster(pulse, executors, d) as c:
            for fmt, src in sources.items():
                r, got, all_s, peak = repeated(repeat, lambda: answer_pulse(pulse, [*src, "--cluster", c.url]))
                mode = f"{executors} executor{'s' if executors > 1 else ''}"
                entry = checked(r, got, all_s, peak, reference[fmt], input=fmt, mode=mode, executors=executors)
                out["runs"].append(entry)
                log(f"cluster {scale} {fmt} {entry['mode']}: {r.seconds:.2f} s {entry.get('error', 'same answer')}")
    return out


def lake(pulse, scale, d, broker):
    """`pulse ingest` of the whole topic into a fresh lake (throughput, RSS
    over time), then the answer from lake + tail against Kafka alone and the
    Parquet export."""
    topic = f"orders_{scale}"
    lake_dir = d / "lake"
    shutil.rmtree(lake_dir, ignore_errors=True)
    kafka = ["--brokers", broker.address, "--topic", topic, *broker.kafka_option]
    scan = pulse.sql([*kafka, "--customers", d / "customers"], SCAN)
    scan_s = Pulse.elapsed(scan)[-1]
    messages = int(last_csv_table(scan.stdout)[1][0][0])
    curve = []
    ingest = run([pulse.bin, "ingest", *kafka, "--lake", lake_dir, "--customers", d / "customers",
                  "--until-caught-up"], curve=curve).check()
    ingested = int(re.findall(r"pulse ingest: ([0-9]+) messages", ingest.stderr)[-1])
    out = {"scale": scale, "messages": messages, "scan_s": scan_s, "ingest_s": ingest.seconds,
           "ingested": ingested, "ingest_peak_mb": ingest.peak_mb, "rss_curve": curve, "runs": []}
    log(f"lake {scale}: ingest {ingested:,} messages in {ingest.seconds:.1f} s "
        f"({ingested / ingest.seconds:,.0f}/s; the scan reads {messages / scan_s:,.0f}/s), peak {ingest.peak_mb:.0f} MB")
    reference = None
    for name, sources in [("kafka", [*kafka, "--customers", d / "customers"]),
                          ("lake + tail", [*kafka, "--lake", lake_dir, "--customers", d / "customers"]),
                          ("parquet export", ["--orders", d / "orders.parquet", "--customers", d / "customers"])]:
        r, got = answer_pulse(pulse, sources)
        if reference is None:
            reference = got
        why = "no answer" if got is None else (None if reference is None else same_answer(reference, got))
        entry = {"input": name, "seconds": r.seconds, "peak_mb": r.peak_mb, "equal": why is None}
        if why:
            entry["error"] = failure(r) if got is None else f"different answer: {why}"
        out["runs"].append(entry)
        log(f"lake {scale}: answer from {name}: {r.seconds:.2f} s, {r.peak_mb:.0f} MB, {entry.get('error', 'same answer')}")
    return out



# --- the live answer: the decoded-log cache through pulse serve ----------------

ANSWER_SQL = "SELECT * FROM top_industry_changes ORDER BY rank"


class Served:
    """`pulse serve` on a free port over the topic of `scale`, with an ADBC
    Flight SQL connection; stopped by stop()."""

    def __init__(self, pulse, broker, topic, customers, cache_memory):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(pulse.bin), "serve", "--bind", f"127.0.0.1:{self.port}", "--brokers", broker.address,
             "--topic", topic, *broker.kafka_option, "--customers", str(customers), "--cache-memory", cache_memory],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for line in self.proc.stderr:
            if "Arrow Flight SQL on" in line:
                break
        else:
            raise RuntimeError(f"pulse serve did not start: {self.proc.wait()}")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def connect(self):
        import adbc_driver_flightsql.dbapi as flightsql
        return flightsql.connect(f"grpc://127.0.0.1:{self.port}")

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def timed_query(cur, sql):
    started = time.perf_counter()
    cur.execute(sql)
    table = cur.fetch_arrow_table()
    return time.perf_counter() - started, table


def live_order(order_id, customer, ts_ms):
    amount = 10 + (hash(order_id) % 50000) / 100
    return (f'{{"order_id":"{order_id}","customer_id":"{customer}","order_line":[{{"product_id":"P1",'
            f'"volume":1,"price":{amount}}}],"amount":{amount},"timestamp":{ts_ms}}}')


# How a latency probe is seen through `pulse serve`: in the answer's state
# (each probe order has a customer of its own, whose row appears in
# customer_window_sums, the view industry_change sums per industry), or as a
# row of the topic (a scan of `orders` from a time seek).
LATENCY_VIA = {
    "answer": "customer_window_sums",
    "orders": "orders",
}


def latency(served, broker, topic, rate, seconds, customers, via):
    """Orders produced at `rate`/s for `seconds`, 5 a second of them probes;
    a client polls `pulse serve` back to back for the probes (`via`, a key of
    LATENCY_VIA). Returns the probes' latencies from send to the end of the
    first query that saw them."""
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": broker.address, "linger.ms": 5, "queue.buffering.max.messages": 1000000})
    run_id = f"r{rate}{via}x{int(time.time())}"
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    sent, seen, stop = {}, {}, threading.Event()

    def poll():
        conn = served.connect()
        cur = conn.cursor()
        if via == "answer":
            sql = f"SELECT customer_id FROM customer_window_sums WHERE customer_id LIKE 'probe-{run_id}-%'"
        else:
            sql = (f"SELECT order_id FROM orders WHERE _timestamp >= TIMESTAMP '{start.isoformat()}' "
                   f"AND order_id LIKE 'probe-{run_id}-%'")
        while not stop.is_set():
            cur.execute(sql)
            ids = cur.fetch_arrow_table().column(0).to_pylist()
            now = time.time()
            for i in ids:
                seen.setdefault(i, now)
        conn.close()

    poller = threading.Thread(target=poll)
    poller.start()
    began = time.time()
    n = probes = 0
    slot = 0.01
    while time.time() - began < seconds:
        due = int((time.time() - began) * rate) + 1
        while n < due:
            probe = rate <= 5 or n % max(1, rate // 5) == 0
            if probe:
                oid = f"probe-{run_id}-{probes}"
                probes += 1
            else:
                oid = f"load-{run_id}-{n}"
            ts = int(time.time() * 1000)
            customer = oid if probe else customers[n % len(customers)]
            producer.produce(topic, live_order(oid, customer, ts).encode(), key=customer.encode(), timestamp=ts)
            if probe:
                sent[oid] = time.time()
            n += 1
        producer.poll(0)
        time.sleep(slot)
    producer.flush(30)
    deadline = time.time() + 30
    while len(seen.keys() & sent.keys()) < len(sent) and time.time() < deadline:
        time.sleep(0.1)
    stop.set()
    poller.join()
    lat = sorted(seen[k] - sent[k] for k in sent if k in seen)
    return {"rate": rate, "via": via, "seconds": seconds, "produced": n, "probes": len(sent), "seen": len(lat),
            "p50_s": statistics.median(lat) if lat else None,
            "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None}


def live(pulse, scale, d, broker, repeat):
    """The warm tick against the cold query through `pulse serve` (T = now),
    the cache's memory, and the latency from produce to visible."""
    from confluent_kafka import Producer
    topic = f"orders_{scale}"
    served = Served(pulse, broker, topic, d / "customers", "4G")
    try:
        conn = served.connect()
        cur = conn.cursor()
        broker.wait_idle()
        cold, reference = timed_query(cur, ANSWER_SQL)
        unchanged = statistics.median(timed_query(cur, ANSWER_SQL)[0] for _ in range(3))
        producer = Producer({"bootstrap.servers": broker.address, "linger.ms": 5})
        customers = [f"C{i:06d}" for i in range(1, 1001)]
        warm = []
        for tick in range(max(3, repeat)):
            ts = int(time.time() * 1000)
            for i in range(1000):
                producer.produce(topic, live_order(f"tick-{tick}-{i}-{ts}", customers[i], ts).encode(), timestamp=ts)
            producer.flush(30)
            # the broker rewrites its store after writes: let it finish, so the tick is Pulse's
            broker.wait_idle(seconds=1.0)
            seconds, _ = timed_query(cur, ANSWER_SQL)
            warm.append(seconds)
        cur.execute("SELECT sum(rows), sum(bytes) FROM pulse_cache")
        rows, cache_bytes = cur.fetchone()
        cur.execute("SELECT orders, copies, bytes, rebuilt, read, recomputed FROM pulse_live")
        kept = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        rss, peak = served.rss_mb()
        conn.close()
        log(f"live {scale}: cold {cold:.2f} s, unchanged {unchanged:.3f} s, warm with 1,000 new "
            f"{statistics.median(warm):.3f} s; cache {rows:,} rows in {cache_bytes / 2**20:,.0f} MiB; RSS {rss:,.0f} MB")
        out = {"scale": scale, "cold_s": cold, "unchanged_s": unchanged, "warm_s": warm,
               "cache_rows": rows, "cache_mb": cache_bytes / 2**20, "rss_mb": rss, "peak_mb": peak,
               "kept": kept, "latency": []}
        log(f"live {scale}: kept {out['kept']}")
        for via in LATENCY_VIA:
            for rate in [5, 20_000]:
                lat = latency(served, broker, topic, rate, 20, customers, via)
                log(f"live {scale}: at {rate:,} orders/s through {LATENCY_VIA[via]}, {lat['seen']}/{lat['probes']} "
                    f"probes seen, p50 {lat['p50_s']} s, p99 {lat['p99_s']} s")
                out["latency"].append(lat)
        return out
    finally:
        served.stop()


def plot_rss(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for x in results.get("lake", []):
        if x["rss_curve"]:
            t, mb = zip(*x["rss_curve"])
            ax.plot(t, mb, label=f"{x['scale']}: {x['ingested']:,} messages")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("RSS, MB")
    ax.set_title("pulse ingest --until-caught-up: memory over a whole run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# --- the report ---------------------------------------------------------------

def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions(venv):
    code = ("import duckdb, polars, datafusion, pyspark; "
            "print(f'DuckDB {duckdb.__version__}, Polars {polars.__version__}, '"
            "f'DataFusion-Python {datafusion.__version__}, pyspark {pyspark.__version__}')")
    peers = run([venv / "bin" / "python", "-c", code]).stdout.strip()
    java = run(["java", "-version"]).stderr.splitlines()
    return peers, (java[0] if java else "no java")


def fmt_rate(n, seconds):
    return f"{n / seconds:,.0f}"


def scan_table(w, scans):
    w("| scale | messages | MB | Pulse from Kafka, orders/s | MB/s | consume floor, msg/s | "
      "Pulse / consume floor | decode floor, msg/s | Pulse / decode floor | Pulse from the JSON-lines file, orders/s | "
      "peak RSS: Pulse / consume floor, MB |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in scans:
        mb = s["bytes"] / 1e6
        w(f"| {s['scale']} | {s['messages']:,} | {mb:,.0f} | {fmt_rate(s['messages'], s['pulse_s'])} | "
          f"{mb / s['pulse_s']:,.1f} | {fmt_rate(s['messages'], s['consume_s'])} | "
          f"{s['consume_s'] / s['pulse_s']:.0%} | {fmt_rate(s['decode_messages'], s['decode_s'])} | "
          f"{s['decode_s'] / s['pulse_s'] * s['messages'] / s['decode_messages']:.0%} | "
          f"{fmt_rate(s['messages'], s['file_s'])} | {s.get('pulse_mb', 0):,.0f} / {s.get('consume_mb', 0):,.0f} |")
    w("")


def pushdown_table(w, p):
    w("| pushdown | query time, s | of which planning (`EXPLAIN`), s | messages fetched | orders in the window | "
      "fetched / in window | fraction of the topic fetched |")
    w("|---|---|---|---|---|---|---|")
    for name in [n for n in ["on", "on, broker trusted", "off"] if n in p]:
        x = p[name]
        w(f"| {name} | {x['seconds']:.3f} | {x.get('planning_s', float('nan')):.3f} | {x['messages_read']:,} | "
          f"{x['rows']:,} | {x['messages_read'] / max(1, x['rows']):.2f}× | "
          f"{x['messages_read'] / p['topic_messages']:.1%} |")
    w(f"\nSpeed-up with pushdown: **{p['off']['seconds'] / p['on']['seconds']:.1f}×**"
      + (f"; trusting the broker's timestamp answers (`'kafka.timestamp_lookup' 'broker'`, no checking "
         f"fetches): **{p['off']['seconds'] / p['on, broker trusted']['seconds']:.1f}×**."
         if "on, broker trusted" in p else ".") + "\n")
    if p.get("planning"):
        w(f"Planning against the number of partitions (issue 16): the same query's `EXPLAIN` on topics of the "
          f"same {PUSHDOWN_DAYS} days of orders ({PLANNING_ORDERS_PER_DAY} a day) split into "
          f"{', '.join(str(x['partitions']) for x in p['planning'])} partitions, median of the runs. *Checked* is "
          "the default (the broker's timestamp look-ups for every partition in one request, then Pulse's checking "
          "fetches of every partition in one request); *trusted* (`'kafka.timestamp_lookup' 'broker'`) leaves "
          "out Pulse's checks, so what it takes is the cut and the broker's look-ups.\n")
        w("| partitions | planning, checked, s | planning, trusted, s | Pulse's checks, s |")
        w("|---|---|---|---|")
        for x in p["planning"]:
            w(f"| {x['partitions']} | {x['checked_s']:.3f} | {x['trusted_s']:.3f} | "
              f"{x['checked_s'] - x['trusted_s']:.3f} |")
        w("")


def profile_section(w, scale, profile):
    """What is left: where the samples of `profile_answer` went."""
    inputs = [fmt for fmt in profile if "parts" in profile[fmt]]
    w(f"#### Where Pulse's time goes ({scale})\n")
    w("`perf record -F 499` (user and kernel time of every thread, no call graphs) of one more `pulse answer` "
      "on each file after the timed runs; the share of the samples by part (the first of `PROFILE_PARTS` in "
      "`bench.py` a symbol matches), then the symbols that took the most.\n")
    for fmt in profile:
        if "error" in profile[fmt]:
            w(f"- {fmt}: not profiled: {profile[fmt]['error']}")
    if not inputs:
        w("")
        return
    w("| part | " + " | ".join(f"{fmt} ({profile[fmt]['wall_s']:.2f} s)" for fmt in inputs) + " |")
    w("|---|" + "---|" * len(inputs))
    for name in profile[inputs[0]]["parts"]:
        w(f"| {name} | " + " | ".join(f"{profile[fmt]['parts'].get(name, 0):.1f}%" for fmt in inputs) + " |")
    w("")
    for fmt in inputs:
        w(f"Top symbols, {fmt}: " + "; ".join(
            f"`{t['symbol'][:100]}` {t['share']:.1f}%" for t in profile[fmt]["top"]) + ".\n")


def write_report(results, path, plot_path):
    L = []
    w = L.append
    w("# Pulse benchmarks\n")
    measured = results.get("measured", {})
    runs = sorted(set(measured.values()))
    when = results["when"] if len(runs) <= 1 else "; ".join(
        f"{', '.join(k for k in WORKLOADS if measured.get(k) == t)} on {t}" for t in runs)
    build = results.get("build", "release")
    w(f"Measured by `bench/run`: {when}, on {results['machine']}. Pulse: the `{build}` build. "
      f"Peers: {results['peers']}; {results['java']}. Broker: noida-db 0.2.3 on loopback, "
      "on the same 2 cores as everything else. Every ratio compares figures of one run of one workload. "
      f"Data: the generator (`pulse generate --seed {SEED} --end {END}`), 3 customer batches; "
      "T (`--as-of`) is the end of the history.\n")

    w("## Targets\n")
    w("| target | measured | met |")
    w("|---|---|---|")
    for t in results["targets"]:
        w(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    w("")

    w("## 1. Scan throughput: `SELECT count(*), sum(amount) FROM orders`, the whole topic\n")
    w("Pulse's time is the query's (datafusion-cli's `Elapsed`), median of the runs; the floors are timed "
      "by `pulse-bench` (bench/src/main.rs) on the same messages: `consume` reads every message with "
      "librdkafka (one consumer a partition, Pulse's client settings) and only counts; `decode` decodes the "
      "same JSON bytes from memory with arrow-json on 2 threads, well-formed lines only.\n")
    scan_table(w, results["scan"])

    p = results.get("pushdown")
    if p:
        w(f"## 2. Pushdown: the last 24 hours of a {PUSHDOWN_DAYS}-day topic\n")
        w(f"Topic `orders_{PUSHDOWN_DAYS}d`: {p['topic_messages']:,} messages, 6 partitions. Query: "
          "`SELECT count(*), sum(amount) FROM orders WHERE \"timestamp\" >= T - 24h AND \"timestamp\" < T`; "
          "messages fetched are the scan's `messages_read` in `EXPLAIN ANALYZE`. Pushdown off is the same "
          "table with `'kafka.pushdown' 'false'`.\n")
        pushdown_table(w, p)

    w("## 3 and 4. The answer end to end, and the peers on identical files\n")
    w("Whole processes, timed from start to exit (startup, reading, computing, printing), with the peak RSS "
      "of the process tree sampled every 50 ms. Each answer (all 10 industries, every figure) is compared "
      "with Pulse's answer from Kafka; a time is reported only for an equal answer (relative tolerance 1e-9). "
      "Each is run several times (`--repeat`): the wall time is the median, the runs are listed, and the "
      "peak RSS is the highest of them.\n")
    for a in results["answers"]:
        pulse_runs = {r["input"]: r for r in a["runs"] if r["engine"] == "pulse"}
        w(f"### {a['scale']}: top 3 = {', '.join(a['top3'])}\n")
        w("| engine | input | wall, s | runs, s | peak RSS, MB | same answer | Pulse is faster by |")
        w("|---|---|---|---|---|---|---|")
        for r in a["runs"]:
            base = pulse_runs.get(r["input"])
            ratio = ""
            if r["engine"] != "pulse" and base and r["equal"]:
                ratio = f"{r['seconds'] / base['seconds']:.2f}×"
            equal = "yes" if r["equal"] else f"no: {r.get('error', '')}"
            seconds = f"{r['seconds']:.2f}" if r["equal"] else f"({r['seconds']:.2f})"
            every = " / ".join(f"{x:.2f}" for x in r.get("all_s", [r["seconds"]]))
            w(f"| {ENGINE_NAMES[r['engine']]} | {r['input']} | {seconds} | {every} | {r['peak_mb']:,.0f} | {equal} "
              f"| {ratio} |")
        w("")
        if a.get("profile"):
            profile_section(w, a["scale"], a["profile"])
    if plot_path:
        w(f"![Peers on identical files]({plot_path.name})\n")
    for x in results.get("lake", []):
        if x is results.get("lake", [])[0]:
            w("## 5. The lake: `pulse ingest`, and the answer from lake + Kafka tail\n")
            w("`pulse ingest --until-caught-up` of the whole topic (and the customer batches) into a fresh local "
              "lake, as a whole process; the scan rate is `SELECT count(*), sum(amount) FROM orders` on the same "
              "topic in the same run. Then the answer (whole process) from Kafka alone, from the lake with the "
              "Kafka tail above it (empty here: the lake is caught up), and from the Parquet export of the same "
              "orders; each compared with the first. Memory over the ingest: `ingest_rss.png`.\n")
            w("| scale | messages | ingest, s | ingest, msg/s | scan, msg/s | ingest / scan | ingest peak RSS, MB | "
              "RSS first half / second half, MB |")
            w("|---|---|---|---|---|---|---|---|")
        curve = x["rss_curve"]
        half = len(curve) // 2
        first = max((m for _, m in curve[:half]), default=0)
        second = max((m for _, m in curve[half:]), default=0)
        w(f"| {x['scale']} | {x['ingested']:,} | {x['ingest_s']:.1f} | {fmt_rate(x['ingested'], x['ingest_s'])} | "
          f"{fmt_rate(x['messages'], x['scan_s'])} | {x['scan_s'] / x['ingest_s'] * x['ingested'] / x['messages']:.0%} | "
          f"{x['ingest_peak_mb']:,.0f} | {first:,.0f} / {second:,.0f} |")
    for x in results.get("lake", []):
        w(f"\n{x['scale']}, the answer:\n")
        w("| orders from | wall, s | peak RSS, MB | same answer |")
        w("|---|---|---|---|")
        for r in x["runs"]:
            w(f"| {r['input']} | {r['seconds']:.2f} | {r['peak_mb']:,.0f} | {'yes' if r['equal'] else 'no: ' + r.get('error', '')} |")
    if results.get("lake"):
        w("\n![pulse ingest memory](ingest_rss.png)\n")
    for x in results.get("live", []):
        if x is results["live"][0]:
            w("## 6. The live answer: warm ticks through the cache and the kept views, served\n")
            w("`pulse serve --cache-memory 4G` on the topic (T = the clock, so the window holds the generated days "
              "after T − 31 days; the views' state kept between queries, `engine/src/live/`), queried with ADBC's "
              "Flight SQL driver from Python: the answer cold, again with nothing new, then after each of several "
              "batches of 1,000 new orders (median). The cache's size is "
              "`SELECT sum(rows), sum(bytes) FROM pulse_cache` after them, the kept state's is `pulse_live`'s "
              "(each tick timed once the broker is idle "
              "again: noida-db rewrites its whole store after writes). Latency: orders produced at a steady "
              "rate for 20 s (5 a second of them probes, each with a customer of its own), a client polling the "
              "server back to back for the probes, either in the answer's state (`customer_window_sums`, the rows "
              "industry_change sums) or as rows of `orders` (a scan from a `_timestamp` seek, whose planning asks "
              "the broker's offsets_for_times: noida-db takes 1.9 s for it at 10M messages, measured by hand with "
              "confluent-kafka); a probe's latency runs from its send to the end of the first query that returned "
              "it.\n")
            w("| scale | cold, s | nothing new, s | 1,000 new, s | warm / cold | cache rows | cache MiB | "
              "kept orders | kept copies | kept MiB (estimate) | server RSS, MB |")
            w("|---|---|---|---|---|---|---|---|---|---|---|")
        warm = statistics.median(x["warm_s"])
        kept = x.get("kept", {})
        kept_cells = (f"{kept['orders']:,} | {kept['copies']:,} | {kept['bytes'] / 2**20:,.0f}" if kept
                      else "– | – | –")
        w(f"| {x['scale']} | {x['cold_s']:.2f} | {x['unchanged_s']:.3f} | {warm:.3f} | {warm / x['cold_s']:.1%} | "
          f"{x['cache_rows']:,} | {x['cache_mb']:,.0f} | {kept_cells} | {x['rss_mb']:,.0f} |")
    for x in results.get("live", []):
        if x is results["live"][0]:
            w("\n| scale | seen through | orders/s | produced | probes seen | p50, s | p99, s |")
            w("|---|---|---|---|---|---|---|")
        for lat in x["latency"]:
            p50 = "–" if lat["p50_s"] is None else f"{lat['p50_s']:.3f}"
            p99 = "–" if lat["p99_s"] is None else f"{lat['p99_s']:.3f}"
            via = LATENCY_VIA[lat.get("via", "orders")]
            w(f"| {x['scale']} | `{via}` | {lat['rate']:,} | {lat['produced']:,} | {lat['seen']}/{lat['probes']} | "
              f"{p50} | {p99} |")
    if results.get("live"):
        w("")
    for x in results.get("cluster", []):
        if x is results["cluster"][0]:
            w("## 7. Scale-out: the answer on a Ballista cluster of Pulse processes\n")
            w("`pulse scheduler` and 1 or 2 `pulse executor`s (a task slot per core each) on the same 2 cores as "
              "the client and the broker, against `pulse answer` alone on the same data; every clustered answer "
              "is checked equal to the local one. Wall time of the client process, median of the runs; the "
              "cluster's processes are already running. RSS is the client's only.\n")
            w("| scale | input | local, s | 1 executor, s | 2 executors, s | cluster overhead (1 executor / local) "
              "| 2 executors vs 1 | same answer |")
            w("|---|---|---|---|---|---|---|---|")
        for fmt in ["jsonl", "parquet", "kafka"]:
            by = {r["mode"]: r for r in x["runs"] if r["input"] == fmt}
            loc, one, two = by.get("local"), by.get("1 executor"), by.get("2 executors")
            if not (loc and one and two):
                continue
            same = all(r["equal"] for r in (loc, one, two))
            errors = "; ".join(r["error"] for r in (loc, one, two) if r.get("error"))
            w(f"| {x['scale']} | {fmt} | {loc['seconds']:.2f} | {one['seconds']:.2f} | {two['seconds']:.2f} | "
              f"{one['seconds'] / loc['seconds']:.2f}× | {one['seconds'] / two['seconds']:.2f}× | "
              f"{'yes' if same else 'no: ' + errors} |")
    if results.get("cluster"):
        w("")
    if results.get("tansu_error"):
        w("## 8. A second broker: Tansu\n")
        w(f"The Tansu workload failed: `{results['tansu_error']}`\n")
    t = results.get("tansu")
    if t:
        w(f"## 8. A second broker: {t['broker']}\n")
        w("The Kafka workloads again on Tansu, built from the crate registry by `bench/run` and run after "
          "noida-db has stopped, on the same 2 cores. Tansu caps a fetch response at what the client asks "
          "(`fetch.max.bytes`), so Pulse and the consume floor run with librdkafka's default limits; it serves "
          "fetches and timestamp look-ups from SQLite, and its speed bounds every figure below.\n")
        if t["scan"]:
            w("Scan (§1's query and floors):\n")
            scan_table(w, t["scan"])
        w(f"Pushdown (§2's query, on a topic of the same {PUSHDOWN_DAYS} days at a tenth of §2's daily rate, "
          f"produced to Tansu: {t['pushdown']['topic_messages']:,} messages):\n")
        pushdown_table(w, t["pushdown"])
        w("The answer from Kafka (whole process, as §3), checked equal to Pulse's answer from the JSON-lines "
          "file:\n")
        w("| scale | wall, s | runs, s | peak RSS, MB | same answer |")
        w("|---|---|---|---|---|")
        for r in t["answers"]:
            every = " / ".join(f"{x:.2f}" for x in r.get("all_s", [r["seconds"]]))
            w(f"| {r['scale']} | {r['seconds']:.2f} | {every} | {r['peak_mb']:,.0f} | "
              f"{'yes' if r['equal'] else 'no: ' + r.get('error', '')} |")
        w("")
    w("## Notes\n")
    for n in results["notes"]:
        w(f"- {n}")
    path.write_text("\n".join(L) + "\n")


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(a["scale"], fmt) for a in results["answers"] for fmt in ["jsonl", "parquet"]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(ENGINES)
    for k, engine in enumerate(ENGINES):
        xs, ys = [], []
        for g, (scale, fmt) in enumerate(groups):
            a = next(x for x in results["answers"] if x["scale"] == scale)
            r = next((r for r in a["runs"] if r["engine"] == engine and r["input"] == fmt and r["equal"]), None)
            if r:
                xs.append(g + k * width)
                ys.append(r["seconds"])
        ax.bar(xs, ys, width, label=ENGINE_NAMES[engine])
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels([f"{s} {f}" for s, f in groups])
    ax.set_yscale("log")
    ax.set_ylabel("wall time, s (log)")
    ax.set_title("The answer on identical files (lower is better; missing bar = no equal answer)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def scan_targets(out, scans, broker, rate_target=True):
    for s in scans:
        rate = s["messages"] / s["pulse_s"]
        floor = s["consume_s"] / s["pulse_s"]
        out.append({"target": f"scan {s['scale']}{broker}: ≥ 70% of the consume floor",
                    "measured": f"{floor:.0%}", "met": floor >= 0.7})
        if rate_target:
            out.append({"target": f"scan {s['scale']}{broker}: ≥ 400k orders/s from Kafka",
                        "measured": f"{rate:,.0f}/s", "met": rate >= 400_000})


def pushdown_targets(out, p, broker):
    fetched = p["on"]["messages_read"] / max(1, p["on"]["rows"])
    speed = p["off"]["seconds"] / p["on"]["seconds"]
    out.append({"target": f"pushdown{broker}: fetches ≤ 2× the window", "measured": f"{fetched:.2f}×",
                "met": fetched <= 2})
    out.append({"target": f"pushdown{broker}: ≥ 20× faster than without", "measured": f"{speed:.1f}×",
                "met": speed >= 20})
    if "on, broker trusted" in p:
        trusted = p["off"]["seconds"] / p["on, broker trusted"]["seconds"]
        out.append({"target": f"pushdown{broker}, broker's answers trusted: ≥ 20× faster than without",
                    "measured": f"{trusted:.1f}×", "met": trusted >= 20})
    if p.get("planning"):
        few, most = p["planning"][0], p["planning"][-1]
        spread = most["checked_s"] / few["checked_s"]
        broker_spread = most["trusted_s"] / few["trusted_s"]
        out.append({"target": f"pushdown{broker}: planning independent of the partition count "
                              f"({most['partitions']} partitions ≤ {PLANNING_SPREAD}× {few['partitions']})",
                    "measured": f"{spread:.2f}× ({most['checked_s']:.3f} s vs {few['checked_s']:.3f} s; "
                                f"the cut and the broker's look-ups alone {broker_spread:.2f}×)",
                    "met": spread <= PLANNING_SPREAD})


def targets(results):
    out = []
    scan_targets(out, results["scan"], "")
    if results.get("pushdown"):
        pushdown_targets(out, results["pushdown"], "")
    t = results.get("tansu")
    if t:
        # Tansu's own rate (its consume floor) is far below 400k/s: only the ratio says something of Pulse
        scan_targets(out, t["scan"], " (Tansu)", rate_target=False)
        pushdown_targets(out, t["pushdown"], " (Tansu)")
    for a in results["answers"]:
        runs = a["runs"]
        if a["scale"] == "sf10":
            for label, inputs in [("from the files", ["jsonl", "parquet"]), ("from Kafka", ["kafka"])]:
                mine = [r for r in runs if r["engine"] == "pulse" and r["input"] in inputs and r["equal"]]
                if mine:
                    worst = max(r["peak_mb"] for r in mine)
                    out.append({"target": f"sf10 answer {label}: peak RSS < 1.5 GB",
                                "measured": f"{worst:,.0f} MB", "met": worst < 1536})
        for fmt in ["jsonl", "parquet"]:
            mine = next((r for r in runs if r["engine"] == "pulse" and r["input"] == fmt and r["equal"]), None)
            if not mine:
                continue
            # issue 16: at least as fast as the faster of DuckDB and Polars,
            # with no higher peak RSS; 10× Spark at sf10
            peers = [r for r in runs if r["engine"] in ("duckdb", "polars") and r["input"] == fmt and r["equal"]]
            if peers:
                best = min(peers, key=lambda r: r["seconds"])
                ratio = best["seconds"] / mine["seconds"]
                out.append({"target": f"{a['scale']} {fmt}: at least as fast as the faster of DuckDB and Polars",
                            "measured": f"{ratio:.2f}× {ENGINE_NAMES.get(best['engine'], best['engine'])}",
                            "met": ratio >= 1.0})
                lowest = min(r["peak_mb"] for r in peers)
                out.append({"target": f"{a['scale']} {fmt}: peak RSS no higher than DuckDB's and Polars'",
                            "measured": f"{mine['peak_mb']:,.0f} MB vs {lowest:,.0f} MB",
                            "met": mine["peak_mb"] <= lowest})
            spark = next((r for r in runs if r["engine"] == "spark" and r["input"] == fmt and r["equal"]), None)
            if spark and a["scale"] == "sf10":
                ratio = spark["seconds"] / mine["seconds"]
                out.append({"target": f"sf10 {fmt}: ≥ 10× faster than Spark", "measured": f"{ratio:.2f}×",
                            "met": ratio >= 10})
    for x in results.get("lake", []):
        rate = x["scan_s"] / x["ingest_s"] * x["ingested"] / x["messages"]
        out.append({"target": f"lake {x['scale']}: ingest ≥ 80% of the Kafka scan rate", "measured": f"{rate:.0%}",
                    "met": rate >= 0.8})
        runs = {r["input"]: r for r in x["runs"]}
        k, l, pq = runs.get("kafka"), runs.get("lake + tail"), runs.get("parquet export")
        if k and l and l["equal"]:
            speed = k["seconds"] / l["seconds"]
            out.append({"target": f"lake {x['scale']}: answer from lake + tail ≥ 5× faster than from Kafka",
                        "measured": f"{speed:.1f}×", "met": speed >= 5})
            if pq and pq["equal"]:
                out.append({"target": f"lake {x['scale']}: answer from lake + tail no slower than the Parquet export",
                            "measured": f"{l['seconds']:.2f} s vs {pq['seconds']:.2f} s",
                            "met": l["seconds"] <= pq["seconds"] * 1.05})
        curve = x["rss_curve"]
        half = len(curve) // 2
        if half:
            first = max(m for _, m in curve[:half])
            second = max(m for _, m in curve[half:])
            out.append({"target": f"lake {x['scale']}: ingest RSS flat (second half ≤ 1.2 × first half)",
                        "measured": f"{first:,.0f} → {second:,.0f} MB", "met": second <= first * 1.2})
    for x in results.get("live", []):
        ratio = statistics.median(x["warm_s"]) / x["cold_s"]
        out.append({"target": f"live {x['scale']}: a tick with 1,000 new orders ≤ 5% of the cold query",
                    "measured": f"{ratio:.1%}", "met": ratio <= 0.05})
        if x["scale"] == "sf10":
            out.append({"target": "live sf10: cache ≤ 1 GB at 10M orders",
                        "measured": f"{x['cache_mb']:,.0f} MiB", "met": x["cache_mb"] <= 1024})
        for lat in x["latency"]:
            ok = lat["p50_s"] is not None and lat["seen"] == lat["probes"]
            via = LATENCY_VIA[lat.get("via", "orders")]
            out.append({"target": f"live {x['scale']} at {lat['rate']:,}/s through `{via}`: p50 ≤ 1 s, p99 ≤ 2 s, "
                                  "every probe seen",
                        "measured": f"p50 {lat['p50_s'] or float('nan'):.2f} s, p99 {lat['p99_s'] or float('nan'):.2f} s, "
                                    f"{lat['seen']}/{lat['probes']}",
                        "met": ok and lat["p50_s"] <= 1 and lat["p99_s"] <= 2})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", type=Path, default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")))
    p.add_argument("--venv", type=Path, default=BENCH / ".venv")
    p.add_argument("--data", type=Path, default=BENCH / "data")
    p.add_argument("--scales", default="sf1,sf10")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tansu", type=Path, default=BENCH / ".tansu" / "bin" / "tansu",
                   help="the Tansu broker binary (bench/run installs it there)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="a subset measures only those and keeps the rest of results.json")
    p.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite RESULTS.md and the plot from results.json, measuring nothing")
    a = p.parse_args()
    if a.report_only:
        results = json.loads((a.out.parent / "results.json").read_text())
        results["notes"] = NOTES
        results["targets"] = targets(results)
        plot_path = a.out.parent / "peers.png"
        plot(results, plot_path)
        write_report(results, a.out, plot_path)
        log(f"rewrote {a.out} from results.json")
        return
    # a terminated run stops its broker too (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scales = [s for s in a.scales.split(",") if s]
    engines = [e for e in a.engines.split(",") if e]
    pulse = Pulse(a.target)
    a.data.mkdir(parents=True, exist_ok=True)
    broker = Broker(a.venv, a.data / "noida")
    results = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "scan": [], "answers": [], "notes": NOTES, "build": BUILD}
    results["peers"], results["java"] = versions(a.venv)
    workloads = set(a.workloads.split(","))
    previous = {}
    every = set(WORKLOADS)
    if workloads != every:
        previous = json.loads((a.out.parent / "results.json").read_text())
    # the workloads not measured now keep their figures (a workload's name is
    # its key) and when they were measured
    results.update({k: v for k, v in previous.items() if k in every and k not in workloads})
    before = previous.get("measured", {k: previous["when"] for k in every}) if previous else {}
    results["measured"] = {k: (results["when"] if k in workloads else before.get(k, "?")) for k in WORKLOADS}
    try:
        needs_orders = workloads & {"scan", "answers", "lake", "live", "cluster"}
        dirs = {s: generate(pulse, a.data, s, broker, produce=bool(needs_orders)) for s in scales}
        topic = generate_pushdown_topic(pulse, a.data, broker) if "pushdown" in workloads else None
        planning_topics = generate_planning_topics(pulse, a.data, broker) if topic else None
        broker.wait_idle()
        if "scan" in workloads:
            # every scale a median of --repeat runs: the SF10 scan, once
            # run once, came out at 69.6% of its floor on 2026-12-03 and 71%
            # the day before, so one run cannot say which side of 70% it is
            results["scan"] = [scan_throughput(pulse, s, dirs[s], broker, a.repeat) for s in scales]
        if topic:
            results["pushdown"] = pushdown(pulse, dirs[scales[0]], broker, topic, a.repeat, planning_topics)
        if "answers" in workloads:
            results["answers"] = [answers(pulse, a.venv, s, dirs[s], broker, engines, a.repeat) for s in scales]
        if "lake" in workloads:
            results["lake"] = [lake(pulse, s, dirs[s], broker) for s in scales]
        if "live" in workloads:
            results["live"] = [live(pulse, s, dirs[s], broker, a.repeat) for s in scales]
        if "cluster" in workloads:
            # the live workload produced to the broker, which rewrites its
            # store for minutes after: the cluster's first figures (SF1) were
            # measured beside it until 2026-12-01
            broker.wait_idle()
            results["cluster"] = [cluster(pulse, s, dirs[s], broker, a.repeat) for s in scales]
    finally:
        broker.stop()
    if "tansu" in workloads:
        # after noida-db has stopped: each broker gets the machine to itself
        try:
            results["tansu"] = second_broker(pulse, a.tansu, a.data, a.repeat)
        except Exception as e:  # the other workloads' figures are kept, and why this failed
            results["tansu_error"] = str(e)[-2000:]
            log(f"tansu: failed: {results['tansu_error']}")
    results["targets"] = targets(results)
    (a.out.parent / "results.json").write_text(json.dumps(results, indent=1, default=str))
    plot_path = a.out.parent / "peers.png"
    plot(results, plot_path)
    if results.get("lake"):
        plot_rss(results, a.out.parent / "ingest_rss.png")
    write_report(results, a.out, plot_path)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
