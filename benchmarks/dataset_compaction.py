"""Query times of the results dataset before and after compaction (docs/scale.md, "The results dataset").

N synthetic calls (one analysed call's JSON under N names, 10 dates, 4 queues) written with
``append_call`` (without fsync: the query time does not depend on it), three queries through
``open_dataset`` (whole archive, then one day), ``compact_dataset``, the same queries again::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/dataset_compaction.py CALL.json WORKDIR 10000
"""
import copy
import json
import random
import sys
import time
from pathlib import Path

import callemo.analyze.dataset as ds
from callemo.analyze.dataset import append_call, compact_dataset, open_dataset


def _plain(path, data):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return Path(path)

src, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
base = json.loads(src.read_text())
rng = random.Random(0)
t = time.perf_counter()
if not (out / "dataset").exists():
    real = ds.atomic_write_bytes
    ds.atomic_write_bytes = _plain
    for i in range(n):
        d = copy.deepcopy(base)
        d["summary"]["needs_review"] = rng.random() < 0.3
        d["summary"]["client_trend"]["end_valence"] = round(rng.uniform(-1, 1), 3)
        meta = {"date": f"2024-{1 + i % 5:02d}-{1 + i % 10:02d}", "queue": f"q{i % 4}"}
        append_call(out, f"q{i % 4}/call{i:05d}", d, meta)
    ds.atomic_write_bytes = real
    print(f"wrote {n} calls in {time.perf_counter() - t:.1f} s", flush=True)
SQL = ["SELECT date, count(*), avg(needs_review::INT) FROM calls GROUP BY date ORDER BY date",
       "SELECT queue, avg(valence_client) FROM calls GROUP BY queue ORDER BY queue",
       "SELECT count(*) FROM segments WHERE role = 'client' AND emotion = 'angry'"]
def run(label, **kw):
    res = []
    for sql in SQL:
        t = time.perf_counter()
        con = open_dataset(out, **kw)
        rows = con.sql(sql).fetchall()
        con.close()
        print(f"{label}: {time.perf_counter() - t:.2f} s  {len(rows)} rows  {sql}", flush=True)
        res.append(rows)
    return res
print("files:", sum(1 for _ in (out / "dataset").rglob("*.parquet")), flush=True)
before = run("before")
one = run("before, one day", since="2024-01-01", until="2024-01-01")
t = time.perf_counter()
done = compact_dataset(out)
print(f"compact_dataset: {time.perf_counter() - t:.1f} s, {len(done)} dates, {sum(done.values())} call parts merged",
      flush=True)
print("files:", sum(1 for _ in (out / "dataset").rglob("*.parquet")), flush=True)
after = run("after")
after1 = run("after, one day", since="2024-01-01", until="2024-01-01")
print("same results:", before == after, one == after1, flush=True)
