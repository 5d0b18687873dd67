"""Peer engines for `cargo xtask bench`: the benchmark suite on DuckDB, chDB (ClickHouse) and polars.

Usage: python peers.py ENGINE[:memory] QUERY DATA_DIR RUNS   (or: python peers.py compat SRC DST)
Prints one JSON object: {"engine", "version", "seconds": [per run], "result": {...},
"formulation": the one timed, "formulations": {name: warm median seconds},
"peakMemoryBytes": the process's peak resident set while loading and querying the layout
timed (Linux VmHWM, reset before each layout is loaded)}.

Two regimes, one process per (engine, query):
- Parquet-resident (ENGINE): queries read the Parquet parts directly. Run 1 is the cold first
  query after start (nothing cached but the OS page cache); runs 2..RUNS re-read and decode
  Parquet each time.
- Memory-resident (ENGINE:memory): the parts are loaded into the engine's own in-memory
  layouts before any timed run — DuckDB tables (plain VARCHAR, and `event` as an ENUM), chDB
  tables (ENGINE = Memory, and MergeTree ORDER BY (visitorid, timestamp) with LowCardinality
  strings), polars DataFrames (String, and `event` as an Enum). Every layout runs every query
  RUNS times; the fastest warm median counts and every layout must return the same answer.
Import, connection setup and loading are not timed. Every formulation is exact for Funnel
Rocket's semantics (strict "after", greedy funnels, existential windows, includeZero off) and
is the fastest exact one known on each engine (see docs/benchmarks.md).

Result shape (compared with frocket's by the xtask):
  groups, rows                      matching users and their rows
  funnel: [[groups, rows], ...]     per funnel step (q5)
  countPerValue, sumPerValue: {key: value}; groupsPerValue: [[key, value], ...] top 10 (q7)
"""

import json
import os
import sys
import time

COLUMNS = {"visitorid": "Int64", "timestamp": "Int64", "event": "String", "categoryid": "String", "price": "Float64"}
EVENTS = ["view", "addtocart", "transaction"]
# q9's timeframe (xtask/bench/queries/q9-timeframe.json): [from, to), 10% of the synthetic
# data's 139-day span, starting 60 days in.
TF_FROM, TF_TO = 1_435_806_000, 1_437_006_960
# q10: a 6-step funnel within 7 days (inclusive), existential.
Q10_STEPS = ["view", "addtocart", "transaction", "view", "addtocart", "transaction"]
Q10_WINDOW = 604_800
FUNNELS = ("q5", "q10")


def top10(pairs):
    """Top 10 by value desc, then key asc (as strings): Funnel Rocket's order."""
    return [[k, v] for k, v in sorted(pairs, key=lambda kv: (-kv[1], str(kv[0])))[:10]]


def agg_result(groups, rows, per_event, per_cat):
    return {
        "groups": int(groups),
        "rows": int(rows or 0),
        "countPerValue": {str(e): int(c) for e, c, _ in per_event},
        "sumPerValue": {str(e): float(s or 0.0) for e, _, s in per_event},
        "groupsPerValue": top10([(str(k), int(v)) for k, v in per_cat]),
    }


# ---------------------------------------------------------------- DuckDB
DUCK = {
    "q1": """
WITH u AS MATERIALIZED (SELECT visitorid FROM t WHERE event='transaction' GROUP BY visitorid HAVING count(*) >= 3)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM t WHERE visitorid IN (SELECT visitorid FROM u))""",
    "q2": """
WITH u AS MATERIALIZED (SELECT visitorid FROM t WHERE event='transaction' GROUP BY visitorid HAVING count(*) >= 3),
     c AS MATERIALIZED (SELECT visitorid, count(*) n, count(*) FILTER (WHERE event='view') nv FROM t
                        WHERE visitorid IN (SELECT visitorid FROM u) GROUP BY visitorid)
SELECT count(*), coalesce(sum(n), 0) FROM c WHERE nv BETWEEN 1 AND 49""",
    "q3": """
WITH u AS MATERIALIZED (SELECT DISTINCT visitorid FROM t WHERE event='transaction' AND price >= 100000)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM t WHERE visitorid IN (SELECT visitorid FROM u))""",
    "q4": """
WITH u AS MATERIALIZED (SELECT visitorid FROM t WHERE event='transaction' AND categoryid='999'
                        GROUP BY visitorid HAVING sum(price) > 100000)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM t WHERE visitorid IN (SELECT visitorid FROM u))""",
    "q5": """
WITH u  AS MATERIALIZED (SELECT visitorid, count(*) n FROM t GROUP BY visitorid
                         HAVING count(*) FILTER (WHERE event='view') >= 5),
     st AS MATERIALIZED (SELECT visitorid, timestamp ts, event FROM t
                         WHERE event IN ('addtocart','transaction') AND visitorid IN (SELECT visitorid FROM u)),
     atc AS (SELECT visitorid, ts FROM st WHERE event='addtocart'),
     tx  AS (SELECT visitorid, ts FROM st WHERE event='transaction'),
     s0 AS MATERIALIZED (SELECT visitorid, min(ts) t FROM atc GROUP BY visitorid),
     s1 AS MATERIALIZED (SELECT p.visitorid, x.ts t FROM s0 p ASOF JOIN tx  x ON p.visitorid=x.visitorid AND x.ts > p.t),
     s2 AS MATERIALIZED (SELECT p.visitorid, x.ts t FROM s1 p ASOF JOIN atc x ON p.visitorid=x.visitorid AND x.ts > p.t),
     s3 AS MATERIALIZED (SELECT p.visitorid, x.ts t FROM s2 p ASOF JOIN tx  x ON p.visitorid=x.visitorid AND x.ts > p.t)
SELECT (SELECT count(*) FROM u), (SELECT sum(n) FROM u),
       (SELECT count(*) FROM s0), (SELECT coalesce(sum(n), 0) FROM u JOIN s0 USING (visitorid)),
       (SELECT count(*) FROM s1), (SELECT coalesce(sum(n), 0) FROM u JOIN s1 USING (visitorid)),
       (SELECT count(*) FROM s2), (SELECT coalesce(sum(n), 0) FROM u JOIN s2 USING (visitorid)),
       (SELECT count(*) FROM s3), (SELECT coalesce(sum(n), 0) FROM u JOIN s3 USING (visitorid))""",
    "q6": """
WITH cand AS MATERIALIZED (SELECT visitorid FROM t WHERE event IN ('addtocart','transaction') GROUP BY visitorid
                           HAVING count(*) FILTER (WHERE event='addtocart') > 0
                              AND count(*) FILTER (WHERE event='transaction') > 0),
     r  AS MATERIALIZED (SELECT visitorid, timestamp ts, event FROM t WHERE visitorid IN (SELECT visitorid FROM cand)),
     a AS (SELECT visitorid, ts FROM r WHERE event='addtocart'),
     v AS (SELECT visitorid, ts FROM r WHERE event='view'),
     x AS (SELECT visitorid, ts FROM r WHERE event='transaction'),
     av  AS (SELECT a.visitorid, a.ts, v.ts vts FROM a ASOF JOIN v ON a.visitorid=v.visitorid AND v.ts < a.ts),
     avx AS (SELECT av.visitorid, av.vts, x.ts xts FROM av ASOF JOIN x ON av.visitorid=x.visitorid AND x.ts > av.ts),
     m AS (SELECT DISTINCT visitorid FROM avx WHERE xts - vts <= 3600)
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM r WHERE visitorid IN (SELECT visitorid FROM m))""",
    "q8": """
WITH u AS MATERIALIZED (SELECT DISTINCT visitorid FROM t WHERE event='transaction' AND categoryid='999'),
     c AS MATERIALIZED (SELECT visitorid, count(*) n, count(*) FILTER (WHERE event='view') nv FROM t
                        WHERE visitorid IN (SELECT visitorid FROM u) GROUP BY visitorid)
SELECT count(*), coalesce(sum(n), 0) FROM c WHERE nv >= 2""",
    "q9": f"""
WITH u AS MATERIALIZED (SELECT visitorid, count(*) n FROM t WHERE timestamp >= {TF_FROM} AND timestamp < {TF_TO}
                        GROUP BY visitorid HAVING count(*) FILTER (WHERE event='view') >= 2)
SELECT count(*), coalesce(sum(n), 0) FROM u""",
}


def duck_q10():
    """Existential windowed funnel: from every step-0 row, the greedy chain (the earliest row of
    each next step strictly after) completes each step earliest, so step k is reached iff some
    start's chain reaches it within the window. Chains leave as soon as they break the window."""
    tables = {e: f"e_{e}" for e in EVENTS}
    ctes = ["n AS MATERIALIZED (SELECT visitorid, count(*) n FROM t GROUP BY visitorid)"]
    for e, name in tables.items():
        ctes.append(f"{name} AS MATERIALIZED (SELECT visitorid, timestamp ts FROM t WHERE event='{e}' ORDER BY visitorid, ts)")
    first = tables[Q10_STEPS[0]]
    ctes.append(
        f"s0 AS MATERIALIZED (SELECT visitorid, ts t0, ts t FROM {first} "
        f"WHERE visitorid IN (SELECT visitorid FROM {tables[Q10_STEPS[1]]}))"
    )
    for k in range(1, len(Q10_STEPS)):
        ctes.append(
            f"s{k} AS MATERIALIZED (SELECT p.visitorid, p.t0, q.ts t FROM s{k - 1} p ASOF JOIN {tables[Q10_STEPS[k]]} q "
            f"ON p.visitorid = q.visitorid AND q.ts > p.t WHERE q.ts - p.t0 <= {Q10_WINDOW})"
        )
    steps = [f"(SELECT visitorid FROM {first})"] + [f"(SELECT visitorid FROM s{k})" for k in range(1, len(Q10_STEPS))]
    cols = ["(SELECT count(*) FROM n)", "(SELECT sum(n) FROM n)"]
    for st in steps:
        cols.append(f"(SELECT count(*) FROM n WHERE visitorid IN {st})")
        cols.append(f"(SELECT coalesce(sum(n), 0) FROM n WHERE visitorid IN {st})")
    return "WITH " + ",\n     ".join(ctes) + "\nSELECT " + ", ".join(cols)


DUCK["q10"] = duck_q10()


# q5 with funnel insights (`cargo xtask bench insights`): the same greedy 4-step funnel, each
# step's time from the first and from the previous step (count, min, max, mean, nearest-rank
# p50/p90/p99: the ceil(p*n)-th smallest, as frocket's exact quantiles), and users per step by
# the categoryid of the user's earliest addtocart row (arg_min_null keeps a null category;
# among rows at one timestamp DuckDB may pick another row than frocket's "first in the part").
DUCK["q5i"] = DUCK["q5"].replace(
    "st AS MATERIALIZED (SELECT visitorid, timestamp ts, event FROM t",
    "st AS MATERIALIZED (SELECT visitorid, timestamp ts, event, categoryid FROM t",
).split("SELECT (SELECT count(*) FROM u)")[0] + """,
     bd AS MATERIALIZED (SELECT visitorid, arg_min_null(categoryid, ts) v FROM st WHERE event='addtocart' GROUP BY visitorid),
     per AS (SELECT bd.v, count(*) u0, count(s1.t) u1, count(s2.t) u2, count(s3.t) u3 FROM s0 JOIN bd USING (visitorid)
             LEFT JOIN s1 USING (visitorid) LEFT JOIN s2 USING (visitorid) LEFT JOIN s3 USING (visitorid) GROUP BY bd.v),
     d AS (SELECT 1 k, s1.t - s0.t ff, s1.t - s0.t fp FROM s1 JOIN s0 USING (visitorid)
           UNION ALL SELECT 2, s2.t - s0.t, s2.t - s1.t FROM s2 JOIN s1 USING (visitorid) JOIN s0 USING (visitorid)
           UNION ALL SELECT 3, s3.t - s0.t, s3.t - s2.t FROM s3 JOIN s2 USING (visitorid) JOIN s0 USING (visitorid)),
     tm AS (SELECT k, count(*) n, list(ff ORDER BY ff) lf, list(fp ORDER BY fp) lp, sum(ff) sf, sum(fp) sp FROM d GROUP BY k)
SELECT (SELECT list({'n': n, 'sf': sf, 'sp': sp,
                     'f': [lf[greatest(1, ceil(0.5 * n))::INT], lf[greatest(1, ceil(0.9 * n))::INT], lf[greatest(1, ceil(0.99 * n))::INT]],
                     'p': [lp[greatest(1, ceil(0.5 * n))::INT], lp[greatest(1, ceil(0.9 * n))::INT], lp[greatest(1, ceil(0.99 * n))::INT]],
                     'lo': lf[1], 'hi': lf[n]} ORDER BY k) FROM tm),
       (SELECT list({'v': v, 'u': [u0, u1, u2, u3]}) FROM per)"""


def insights_shape(row):
    """The timings and the top-10 breakdown (+ "(other)") in the xtask's comparison shape."""
    timings = []
    for t in row[0] or []:
        n = int(t["n"])
        timings.append({"count": n, "meanFromFirst": int(t["sf"]) / n, "meanFromPrevious": int(t["sp"]) / n,
                        "fromFirst": [float(x) for x in t["f"]], "fromPrevious": [float(x) for x in t["p"]],
                        "minFromFirst": float(t["lo"]), "maxFromFirst": float(t["hi"])})
    entries = [(None if e["v"] is None else str(e["v"]), [int(u) for u in e["u"]]) for e in row[1] or []]
    entries.sort(key=lambda e: (-e[1][0], "" if e[0] is None else "\x01" + e[0]))
    top, rest = entries[:10], entries[10:]
    values = [[v, u] for v, u in top]
    other = [sum(u[i] for _, u in rest) for i in range(4)]
    if any(other):
        values.append(["(other)", other])
    return {"timings": timings, "breakdown": values}


def duckdb_runner(data, layout="parquet"):
    """layout: parquet (a view over the files), table (the parts loaded into a DuckDB table),
    enum (the same with `event` as an ENUM)."""
    import duckdb

    con = duckdb.connect()
    # Spills (a 100M-row q10 does) go next to the data under target/, not into the working tree.
    con.execute(f"SET temp_directory = '{os.path.join(os.path.dirname(os.path.abspath(data)), 'duckdb-tmp')}'")
    cols = ", ".join(COLUMNS)
    src = f"read_parquet('{data}/*.parquet')"
    if layout == "parquet":
        con.execute(f"CREATE VIEW t AS SELECT {cols} FROM {src}")
    elif layout == "table":
        con.execute(f"CREATE TABLE t AS SELECT {cols} FROM {src}")
    else:
        values = ", ".join(f"'{e}'" for e in EVENTS)
        con.execute(f"CREATE TYPE ev AS ENUM ({values})")
        con.execute(
            f"CREATE TABLE t AS SELECT visitorid, timestamp, event::ev AS event, categoryid, price FROM {src}"
        )

    def run(q):
        if q == "q7":
            con.execute(
                "CREATE OR REPLACE TEMP TABLE m AS SELECT visitorid, event, categoryid, price FROM t WHERE visitorid IN "
                "(SELECT visitorid FROM t WHERE event='transaction' GROUP BY visitorid HAVING count(*) >= 3)"
            )
            g, r = con.execute("SELECT count(DISTINCT visitorid), count(*) FROM m").fetchone()
            ev = con.execute("SELECT event::VARCHAR, count(*), sum(price) FROM m GROUP BY event").fetchall()
            cat = con.execute(
                "SELECT categoryid, count(DISTINCT visitorid) c FROM m WHERE categoryid IS NOT NULL GROUP BY categoryid"
            ).fetchall()
            con.execute("DROP TABLE m")
            return agg_result(g, r, ev, cat)
        row = con.execute(DUCK[q]).fetchone()
        if q == "q5i":
            return insights_shape(row)
        return shape(q, row)

    return duckdb.__version__, run


def shape(q, row):
    """(groups, rows[, step groups, step rows ...]) -> the result shape."""
    out = {"groups": int(row[0]), "rows": int(row[1] or 0)}
    if q in FUNNELS:
        out["funnel"] = [[int(row[i]), int(row[i + 1] or 0)] for i in range(2, len(row), 2)]
    return out


# ---------------------------------------------------------------- chDB (ClickHouse)
def ch_sql(q, table):
    u = {
        "q1": f"SELECT visitorid FROM {table} WHERE event='transaction' GROUP BY visitorid HAVING count() >= 3",
        "q3": f"SELECT DISTINCT visitorid FROM {table} WHERE event='transaction' AND price >= 100000",
        "q4": f"SELECT visitorid FROM {table} WHERE event='transaction' AND categoryid='999' "
        "GROUP BY visitorid HAVING sum(price) > 100000",
    }
    if q in u:
        return f"SELECT uniqExact(visitorid), count() FROM {table} WHERE visitorid IN ({u[q]})"
    if q == "q2":
        return (
            f"SELECT count(), sum(n) FROM (SELECT visitorid, count() n, countIf(event='view') nv FROM {table} "
            f"WHERE visitorid IN ({u['q1']}) GROUP BY visitorid) WHERE nv BETWEEN 1 AND 49"
        )
    if q == "q5":
        return f"""
SELECT count(), sum(n), countIf(ok0), sumIf(n, ok0), countIf(ok1), sumIf(n, ok1),
       countIf(ok2), sumIf(n, ok2), countIf(ok3), sumIf(n, ok3) FROM (
  SELECT n, notEmpty(a) ok0, arrayMin(a) t0,
         arrayFilter(e -> e > t0, x) x1, ok0 AND notEmpty(x1) ok1, arrayMin(x1) t1,
         arrayFilter(e -> e > t1, a) a2, ok1 AND notEmpty(a2) ok2, arrayMin(a2) t2,
         arrayFilter(e -> e > t2, x) x3, ok2 AND notEmpty(x3) ok3
  FROM (SELECT count() n, groupArrayIf(timestamp, event='addtocart') a,
               groupArrayIf(timestamp, event='transaction') x
        FROM {table} GROUP BY visitorid HAVING countIf(event='view') >= 5))"""
    if q == "q6":
        # Default (non-strict) windowFunnel over ts' = 4*ts + (3 - step): at equal timestamps a
        # later step sorts first and cannot chain, which makes it exactly the strict existential
        # semantics here (every row matches at most one step); window 4*3600 - 2.
        return f"""
SELECT count(), sum(n) FROM (
  SELECT count() n, windowFunnel(14398)(toUInt64(timestamp * 4 + multiIf(event='view', 3, event='addtocart', 2, 1)),
                                        event='view', event='addtocart', event='transaction') lvl
  FROM {table} GROUP BY visitorid) WHERE lvl = 3"""
    if q == "q8":
        return (
            f"SELECT count(), sum(n) FROM (SELECT visitorid, count() n, countIf(event='view') nv FROM {table} "
            f"WHERE visitorid IN (SELECT DISTINCT visitorid FROM {table} WHERE event='transaction' AND categoryid='999') "
            "GROUP BY visitorid) WHERE nv >= 2"
        )
    if q == "q9":
        return (
            f"SELECT count(), sum(n) FROM (SELECT visitorid, count() n FROM {table} "
            f"WHERE timestamp >= {TF_FROM} AND timestamp < {TF_TO} GROUP BY visitorid HAVING countIf(event='view') >= 2)"
        )
    if q == "q10":
        # Per user the step timestamps as arrays; every step-0 row starts a greedy chain (the
        # earliest row of the next step strictly after: arrayMin of arrayFilter, 0 when none,
        # timestamps being positive); the user's level is the best start's. windowFunnel is
        # not exact here: a row matches several steps, which its strictness modes mishandle.
        arr = {e: e[0] for e in EVENTS}
        chain, oks = [], []
        prev = "t0"
        for k in range(1, len(Q10_STEPS)):
            guard = "1" if k == 1 else f"ok{k - 1}"
            chain.append(f"if({guard}, arrayMin(arrayFilter(e -> e > {prev}, {arr[Q10_STEPS[k]]})), 0) t{k}")
            chain.append(f"{guard} AND t{k} > 0 AND t{k} - t0 <= {Q10_WINDOW} ok{k}")
            oks.append(f"ok{k}")
            prev = f"t{k}"
        levels = ", ".join(f"countIf(l >= {k}), sumIf(n, l >= {k})" for k in range(1, len(Q10_STEPS) + 1))
        groups = ", ".join(f"groupArrayIf(timestamp, event='{e}') {arr[e]}" for e in EVENTS)
        return f"""
SELECT count(), sum(n), {levels} FROM (
  SELECT visitorid, any(n) n, max(lvl) l FROM (
    SELECT visitorid, n, t0, {", ".join(chain)}, if(empty(v), 0, 1 + {" + ".join(oks)}) lvl
    FROM (SELECT visitorid, count() n, {groups} FROM {table} GROUP BY visitorid)
    LEFT ARRAY JOIN v AS t0)
  GROUP BY visitorid)"""
    if q == "q7":
        return f"""
SELECT event, categoryid, count(), sum(price), uniqExact(visitorid) FROM {table}
WHERE visitorid IN ({u['q1']}) GROUP BY GROUPING SETS ((event), (categoryid), ())
SETTINGS group_by_use_nulls = 1"""
    raise ValueError(q)


def chdb_runner(data, layout="parquet"):
    """layout: parquet (the file() table function), memory (ENGINE = Memory), mergetree
    (MergeTree ORDER BY (visitorid, timestamp), strings LowCardinality)."""
    import chdb
    from chdb import session

    sess = session.Session()
    schema = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
    source = f"file('{data}/*.parquet', Parquet, '{schema}')"
    if layout == "parquet":
        table = source
    elif layout == "memory":
        sess.query(f"CREATE TABLE tm ({schema}) ENGINE = Memory")
        sess.query(f"INSERT INTO tm SELECT * FROM {source}")
        table = "tm"
    else:
        typed = schema.replace(" String", " LowCardinality(String)")
        sess.query(f"CREATE TABLE tt ({typed}) ENGINE = MergeTree ORDER BY (visitorid, timestamp)")
        sess.query(f"INSERT INTO tt SELECT * FROM {source}")
        sess.query("OPTIMIZE TABLE tt FINAL")
        table = "tt"

    def run(q):
        text = sess.query(ch_sql(q, table), "JSONCompact").bytes().decode()
        rows = json.loads(text)["data"]
        if q == "q7":
            ev, cat, g, r = [], [], 0, 0
            for e, c, n, s, users in rows:
                if e is None and c is None:
                    g, r = int(users), int(n)
                elif e is not None:
                    ev.append((e, int(n), float(s)))
                else:
                    cat.append((c, int(users)))
            return agg_result(g, r, ev, cat)
        return shape(q, [int(x) if x is not None else 0 for x in rows[0]])

    return chdb.__version__, run


# ---------------------------------------------------------------- polars
def polars_runner(data, layout="parquet"):
    """layout: parquet (scan_parquet per query), frame (a DataFrame in memory), enum (the same
    with `event` as an Enum)."""
    import polars as pl

    source = pl.scan_parquet(f"{data}/*.parquet").select(list(COLUMNS))
    frame = None
    if layout == "frame":
        frame = source.collect()
    elif layout == "enum":
        frame = source.with_columns(pl.col("event").cast(pl.Enum(EVENTS))).collect()

    def scan():
        return source if frame is None else frame.lazy()

    ev = pl.col("event")

    def tx3(t):
        return t.filter(ev == "transaction").group_by("visitorid").len().filter(pl.col("len") >= 3).select("visitorid")

    def matched(t, u):
        return t.join(u, on="visitorid", how="semi").select(pl.col("visitorid").n_unique().alias("g"), pl.len().alias("r"))

    def run(q):
        t = scan()
        if q in ("q1", "q3", "q4"):
            if q == "q1":
                u = tx3(t)
            elif q == "q3":
                u = t.filter((ev == "transaction") & (pl.col("price") >= 100000)).select("visitorid").unique()
            else:
                u = (
                    t.filter((ev == "transaction") & (pl.col("categoryid") == "999"))
                    .group_by("visitorid")
                    .agg(pl.col("price").sum().alias("s"))
                    .filter(pl.col("s") > 100000)
                    .select("visitorid")
                )
            g, r = matched(t, u).collect().row(0)
            return {"groups": int(g), "rows": int(r)}
        if q == "q2":
            c = (
                t.join(tx3(t), on="visitorid", how="semi")
                .group_by("visitorid")
                .agg(pl.len().alias("n"), (ev == "view").sum().alias("nv"))
                .filter(pl.col("nv").is_between(1, 49))
                .select(pl.len(), pl.col("n").sum())
            )
            g, r = c.collect().row(0)
            return {"groups": int(g), "rows": int(r or 0)}
        if q == "q5":
            u = (
                t.group_by("visitorid")
                .agg(pl.len().alias("n"), (ev == "view").sum().alias("nv"))
                .filter(pl.col("nv") >= 5)
                .select("visitorid", "n")
            )
            st = t.filter(ev.is_in(["addtocart", "transaction"])).join(u, on="visitorid", how="semi")
            atc = st.filter(ev == "addtocart").select("visitorid", pl.col("timestamp").alias("ts"))
            tx = st.filter(ev == "transaction").select("visitorid", pl.col("timestamp").alias("ts"))
            s = atc.group_by("visitorid").agg(pl.col("ts").min().alias("t"))
            steps = [s]
            for nxt in (tx, atc, tx):
                s = (
                    s.join(nxt, on="visitorid")
                    .filter(pl.col("ts") > pl.col("t"))
                    .group_by("visitorid")
                    .agg(pl.col("ts").min().alias("t"))
                )
                steps.append(s)
            frames = [u.select(pl.len(), pl.col("n").sum())] + [
                x.join(u, on="visitorid").select(pl.len(), pl.col("n").sum()) for x in steps
            ]
            rows = [f.row(0) for f in pl.collect_all(frames)]
            out = {"groups": int(rows[0][0]), "rows": int(rows[0][1] or 0)}
            out["funnel"] = [[int(g), int(r or 0)] for g, r in rows[1:]]
            return out
        if q == "q6":
            cand = (
                t.filter(ev.is_in(["addtocart", "transaction"]))
                .group_by("visitorid")
                .agg((ev == "addtocart").any().alias("a"), (ev == "transaction").any().alias("x"))
                .filter(pl.col("a") & pl.col("x"))
                .select("visitorid")
            )
            r = t.join(cand, on="visitorid", how="semi").select("visitorid", pl.col("timestamp").alias("ts"), "event")
            a = r.filter(ev == "addtocart").select("visitorid", "ts").sort("ts")
            v = r.filter(ev == "view").select("visitorid", pl.col("ts").alias("vts")).sort("vts")
            x = r.filter(ev == "transaction").select("visitorid", pl.col("ts").alias("xts")).sort("xts")
            av = a.join_asof(v, left_on="ts", right_on="vts", by="visitorid", strategy="backward", allow_exact_matches=False)
            avx = av.join_asof(x, left_on="ts", right_on="xts", by="visitorid", strategy="forward", allow_exact_matches=False)
            m = avx.filter((pl.col("xts") - pl.col("vts")) <= 3600).select("visitorid").unique()
            g, rows = matched(r, m).collect().row(0)
            return {"groups": int(g), "rows": int(rows)}
        if q in ("q8", "q9"):
            if q == "q8":
                u = t.filter((ev == "transaction") & (pl.col("categoryid") == "999")).select("visitorid").unique()
                rows = t.join(u, on="visitorid", how="semi")
            else:
                rows = t.filter((pl.col("timestamp") >= TF_FROM) & (pl.col("timestamp") < TF_TO))
            # Users with >= 2 views among these rows, and their rows.
            c = (
                rows.group_by("visitorid")
                .agg(pl.len().alias("n"), (ev == "view").sum().alias("nv"))
                .filter(pl.col("nv") >= 2)
                .select(pl.len(), pl.col("n").sum())
            )
            g, r = c.collect().row(0)
            return {"groups": int(g), "rows": int(r or 0)}
        if q == "q10":
            n = t.group_by("visitorid").agg(pl.len().alias("n"))
            per = {
                e: t.filter(ev == e).select("visitorid", pl.col("timestamp").alias("ts")).sort("ts")
                for e in EVENTS
            }
            first = per[Q10_STEPS[0]]
            s = (
                first.join(per[Q10_STEPS[1]].select("visitorid").unique(), on="visitorid", how="semi")
                .select("visitorid", pl.col("ts").alias("t0"), pl.col("ts").alias("t"))
                .sort("t")
            )
            steps = [first.select("visitorid").unique()]
            for e in Q10_STEPS[1:]:
                s = (
                    s.join_asof(per[e], left_on="t", right_on="ts", by="visitorid", strategy="forward",
                                allow_exact_matches=False)
                    .filter(pl.col("ts").is_not_null() & (pl.col("ts") - pl.col("t0") <= Q10_WINDOW))
                    .select("visitorid", "t0", pl.col("ts").alias("t"))
                    .sort("t")
                )
                steps.append(s.select("visitorid").unique())
            frames = [n.select(pl.len(), pl.col("n").sum())] + [
                n.join(x, on="visitorid", how="semi").select(pl.len(), pl.col("n").sum()) for x in steps
            ]
            rows = [f.row(0) for f in pl.collect_all(frames)]
            out = {"groups": int(rows[0][0]), "rows": int(rows[0][1] or 0)}
            out["funnel"] = [[int(g), int(r or 0)] for g, r in rows[1:]]
            return out
        if q == "q7":
            m = t.join(tx3(t), on="visitorid", how="semi")
            tot, per_ev, per_cat = pl.collect_all(
                [
                    m.select(pl.col("visitorid").n_unique(), pl.len()),
                    m.group_by(ev.cast(pl.String)).agg(pl.len(), pl.col("price").sum()),
                    m.drop_nulls("categoryid").group_by(pl.col("categoryid").cast(pl.String)).agg(pl.col("visitorid").n_unique()),
                ]
            )
            g, r = tot.row(0)
            return agg_result(g, r, per_ev.rows(), per_cat.rows())
        raise ValueError(q)

    return pl.__version__, run


RUNNERS = {"duckdb": duckdb_runner, "chdb": chdb_runner, "polars": polars_runner}
# The in-memory layouts of each engine (ENGINE:memory): every one is timed, the fastest counts.
MEMORY_LAYOUTS = {"duckdb": ["table", "enum"], "chdb": ["memory", "mergetree"], "polars": ["frame", "enum"]}


def timed(run, query, runs, label):
    seconds, result = [], None
    for i in range(runs):
        t0 = time.perf_counter()
        r = run(query)
        seconds.append(time.perf_counter() - t0)
        if result is not None and not same(r, result):
            sys.exit(f"{label} {query}: run {i + 1} returned a different result")
        result = r
    return seconds, result


def same(a, b):
    """Answers agree: floats to a relative 1e-9 (layouts sum in different orders), the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    return a == b


def reset_peak_memory():
    """Resets the process's peak resident set (Linux: VmHWM), so each layout's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_bytes():
    """The process's peak resident set since the last reset (Linux VmHWM), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def median(xs):
    v = sorted(xs)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def compat(src, dst):
    """Rewrites the parts for pyarrow 12 (Funnel Rocket 0.5.3): string views become plain strings."""
    import glob

    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(dst, exist_ok=True)
    for f in sorted(glob.glob(f"{src}/*.parquet")):
        t = pq.read_table(f)
        fields = [pa.field(x.name, pa.string() if pa.types.is_string_view(x.type) else x.type) for x in t.schema]
        pq.write_table(t.cast(pa.schema(fields)), os.path.join(dst, os.path.basename(f)), compression="zstd")
    open(os.path.join(dst, "_complete"), "w").close()


def main():
    if sys.argv[1] == "compat":
        return compat(sys.argv[2], sys.argv[3])
    engine, query, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    name, _, mode = engine.partition(":")
    if name == "duckdb-mem":  # the insights bench's name for DuckDB's own table
        name, mode = "duckdb", "memory"
    layouts = MEMORY_LAYOUTS[name] if mode == "memory" else ["parquet"]
    best, timings, answers = None, {}, {}
    for layout in layouts:
        reset_peak_memory()
        version, run = RUNNERS[name](data, layout)
        seconds, result = timed(run, query, runs, f"{name}/{layout}")
        warm = median(seconds[1:] or seconds)
        timings[layout], answers[layout] = warm, result
        if best is None or warm < best[0]:
            best = (warm, layout, seconds, result, peak_memory_bytes())
        del run
    first = answers[layouts[0]]
    for layout, r in answers.items():
        if not same(r, first):
            sys.exit(f"{name} {query}: layout {layout} answered {r}, {layouts[0]} answered {first}")
    _, layout, seconds, result, peak = best
    print(json.dumps({"engine": name, "version": version, "seconds": seconds, "result": result,
                      "formulation": layout, "formulations": timings, "peakMemoryBytes": peak}))


# Exit status of a peer that ran out of memory (its own limit, or Python's MemoryError): the
# xtask reports it as having given up, like one killed by the OS or stopped for time.
OUT_OF_MEMORY = 75


def out_of_memory(e):
    """Whether an engine's exception is running out of memory (chDB MEMORY_LIMIT_EXCEEDED,
    DuckDB OutOfMemoryException, polars/arrow allocation failures, Python MemoryError)."""
    text = f"{type(e).__name__}: {e}"
    return isinstance(e, MemoryError) or any(
        m in text for m in ("MEMORY_LIMIT_EXCEEDED", "OutOfMemory", "Out of Memory", "memory allocation of")
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - classified, then re-raised
        if not out_of_memory(e):
            raise
        print(f"out of memory: {str(e).splitlines()[0][:300]}", file=sys.stderr)
        sys.exit(OUT_OF_MEMORY)
