#!/usr/bin/env python3
"""Differential ClickHouse compatibility check: 18.16 against current ClickHouse.

The integration tests ran against a private ClickHouse 18.16 with log_queries
on and kept their databases (scripts/clickhouse-compat.sh). This script reads
the SQL they sent from 18.16's system.query_log and, on an in-process current
ClickHouse (chdb), checks it:

  DDL      every distinct CREATE statement runs, verbatim, on an empty server;
  parse    every other statement that is not a SELECT (RENAME, TRUNCATE, the
           heads of the driver's batch INSERTs) parses (EXPLAIN AST);
  SELECT   every distinct SELECT (and the SELECT of every INSERT ... SELECT)
           runs, verbatim, on the same data on both versions and returns the
           same rows;
  settings every setting in force for those statements (sent by the client
           or from the server's profile, as 18.16 logged them) is accepted
           with its value.

The data: each kept database's tables are created on chdb from 18.16's own
SHOW CREATE TABLE and filled with 18.16's rows as they are on disk (merges
stopped on both sides, no insert-time dedup on chdb), so both versions read
the same physical rows, unmerged duplicates included. Both versions are
queried against the data as the tests left it, which need not be the data a
statement saw when a test sent it: the comparison is of the two versions, not
of the tests' answers.

Comparison: both answers in TabSeparated, rows sorted (a statement without a
total ORDER BY may return rows in any order). One formatting difference is
settled by a setting, not by rewriting answers: current ClickHouse prints
Decimal without trailing zeros unless output_format_decimal_trailing_zeros=1
(18.16 always pads to the scale), so chdb runs with that setting. No answer
text is normalised.

Two statements read external tables the driver sends with the query (the
processor's LoadState 'keys' and Lookup 'ids'); the query log does not keep
their rows. For those, a table of that name in the current database, holding
every key of the statement's database, stands in on both versions.

Exit status: 0 when every statement is accepted and every answer is the
same, 1 when anything failed or differed on current ClickHouse, or when the
capture holds too few statements to mean anything; 2 on a usage or setup
error.
"""

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# The databases the integration tests create (queryapi chtest.DB, the
# processor's store and upgrade tests).
TEST_DATABASE = re.compile(r"^(tally_test_[0-9a-f]+|it_store_\d+|it_upgrade_\d+)$")

# External tables the services send with a query, by name: their structure
# and the rows that stand in for them (every key of the database {db}).
EXTERNAL_TABLES = {
    "keys": ("bucket UInt32, client_id String, metric String",
             "SELECT DISTINCT bucket, client_id, metric FROM {db}.state"),
    "ids": ("tenant String, event_id String",
            "SELECT DISTINCT tenant, event_id FROM {db}.event_ids"),
}

# Settings chdb runs every statement with; see the module doc.
CHDB_SETTINGS = {"output_format_decimal_trailing_zeros": "1"}


class Known:
    """A difference between the versions that the code reading the answer
    absorbs. It matches a statement (sql) and a pair of answers (answers,
    given the sorted rows of 18.16 and of current ClickHouse); why says why
    the services give the same result either way. A matching difference is
    reported, and does not fail the check."""

    def __init__(self, name, sql, answers, why):
        self.name, self.sql, self.answers, self.why = name, sql, answers, why


def _zero_row(rows):
    return len(rows) == 1 and all(f in ("", "0", "0.000000000") for f in rows[0].split("\t"))


KNOWN = [
    Known("GROUP BY constant keys over no rows",
          re.compile(r"^SELECT '' AS g_client, '' AS g_metric, toInt64\(0\) AS g_bucket, sum\(v\.2\)"),
          lambda a, b: _zero_row(a) and not b,
          "18.16 answers one row of zeros when every GROUP BY key is a constant and no row matches; current "
          "ClickHouse answers no row (empty_result_for_aggregation_by_constant_keys_on_empty_set, on by default). "
          "queryapi aggregate.Store.wholeBuckets skips rows whose count is 0, so the aggregation is the same."),
]

# A capture with fewer SELECTs than this did not run the tests it should
# have: the check must not pass on nothing.
MIN_SELECTS = 100


class QueryError(Exception):
    """A statement the server refused; the message is the server's."""


class Baseline:
    """ClickHouse 18.16 over its HTTP interface."""

    def __init__(self, url):
        self.url = url.rstrip("/") + "/"

    def query(self, sql, **params):
        params.setdefault("max_execution_time", "120")
        # This script's own statements stay out of the log it reads.
        params.setdefault("log_queries", "0")
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode(params), data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            raise QueryError(first_line(e.read().decode(errors="replace"))) from None

    def rows(self, sql):
        """The rows of sql as dicts (JSONEachRow)."""
        out = self.query(sql + " FORMAT JSONEachRow").decode()
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class Current:
    """Current ClickHouse, in process (chdb), on a persistent session."""

    def __init__(self, path):
        from chdb import session  # imported here so --help works without chdb
        self.session = session.Session(path)
        for k, v in CHDB_SETTINGS.items():
            self.query(f"SET {k} = {v}")

    def query(self, sql, fmt="TabSeparated"):
        try:
            return self.session.query(sql, fmt).bytes()
        except Exception as e:  # chdb raises a bare RuntimeError-like error
            raise QueryError(first_line(str(e))) from None

    def close(self):
        self.session.close()


def first_line(msg):
    msg = msg.strip()
    return msg.splitlines()[0] if msg else "(no message)"


# ------------------------------------------------------------- statements

class Statement:
    def __init__(self, text, count, first):
        self.text, self.count, self.first = text, count, first
        self.kind, self.select = classify(text)
        self.dbs = []
        self.result = None  # (status, detail)
        self.seconds = (0.0, 0.0)  # replay time on 18.16, on current

    @property
    def replayed(self):
        return self.select is not None


INSERT_SELECT = re.compile(r"^\s*INSERT\s+INTO\s+[\w.`]+\s*(?:\([^)]*\))?\s*((?:WITH|SELECT)\b.*)$", re.S | re.I)


def classify(text):
    """The statement's kind, and the SELECT to replay (None if none)."""
    head = text.lstrip()
    word = head.split(None, 1)[0].upper() if head else ""
    if word in ("SELECT", "WITH"):
        return "select", text
    if word == "INSERT":
        m = INSERT_SELECT.match(text)
        if m:
            return "insert-select", m.group(1)
        return "insert", None
    if word == "CREATE":
        return "ddl", None
    return word.lower() or "empty", None


STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
LIST = re.compile(r"\?(?:\s*,\s*\?)+")
ORS = re.compile(r"\([^()]*\)(?:\s+OR\s+\([^()]*\))+")


def shape(text, dbs):
    """The statement with database names, literals and literal lists
    replaced: statements of one shape come from one place in the code."""
    for db in dbs:
        text = re.sub(r"\b%s\b" % re.escape(db), "{db}", text)
    text = STRING.sub("?", text)
    text = NUMBER.sub("?", text)
    text = LIST.sub("?…", text)
    text = ORS.sub("(…) OR …", text)
    return re.sub(r"\s+", " ", text).strip()


def captured_settings(base):
    """Every (name, value) of a setting changed for a logged native query."""
    rows = base.rows("SELECT DISTINCT name, value FROM system.query_log "
                     "ARRAY JOIN Settings.Names AS name, Settings.Values AS value WHERE type = 2 AND interface = 1")
    return sorted((r["name"], r["value"]) for r in rows)


def check_settings(cur, settings):
    """Problems with settings current ClickHouse refuses."""
    problems = []
    for name, value in settings:
        literal = value if re.fullmatch(r"-?\d+(\.\d+)?", value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        try:
            cur.query(f"SELECT 1 SETTINGS {name} = {literal}")
        except QueryError as e:
            problems.append(f"setting {name} = {value}: {e}")
    return problems


def capture(base):
    """Every statement the tests sent that names a kept test database."""
    base.query("SYSTEM FLUSH LOGS")
    dbs = [r["name"] for r in base.rows("SELECT name FROM system.databases") if TEST_DATABASE.match(r["name"])]
    if not dbs:
        return [], []
    # interface 1 is the native protocol: the Go driver's statements, not
    # HTTP requests (this script's, or anyone's by hand).
    rows = base.rows("SELECT query, count() AS n, min(event_time) AS t FROM system.query_log "
                     "WHERE type = 2 AND interface = 1 GROUP BY query")
    names = re.compile(r"\b(%s)\b" % "|".join(map(re.escape, dbs)))
    out = []
    for r in rows:
        found = sorted(set(names.findall(r["query"])))
        if not found:
            continue
        s = Statement(r["query"], int(r["n"]), r["t"])
        s.dbs = found
        out.append(s)
    out.sort(key=lambda s: (s.first, s.text))
    return dbs, out


# ------------------------------------------------------------------ checks

def check_ddl(cur, statements):
    """Run every distinct CREATE on current ClickHouse, each on its own: the
    table it creates is dropped first, so IF NOT EXISTS never hides it."""
    create = re.compile(r"^\s*CREATE\s+(TABLE|DATABASE)\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.`]+)", re.I)
    for s in statements:
        if s.kind != "ddl":
            continue
        try:
            m = create.match(s.text)
            if m and m.group(1).upper() == "TABLE":
                name = m.group(2)
                if "." in name:
                    cur.query("CREATE DATABASE IF NOT EXISTS " + name.split(".", 1)[0])
                cur.query("DROP TABLE IF EXISTS " + name)
            elif m:
                cur.query("DROP DATABASE IF EXISTS " + m.group(2))
            cur.query(s.text)
            s.result = ("same", "accepted")
        except QueryError as e:
            s.result = ("error", str(e))
    for db in sorted({d for s in statements if s.kind == "ddl" for d in s.dbs}):
        cur.query("DROP DATABASE IF EXISTS " + db)


def check_parse(cur, statements):
    """Statements that change state and are not replayed must still parse."""
    for s in statements:
        if s.kind in ("ddl", "select", "insert-select"):
            continue
        try:
            cur.query("EXPLAIN AST " + s.text)
            s.result = ("same", "parses")
        except QueryError as e:
            s.result = ("error", str(e))


def load(base, cur, dbs, log):
    """Copy every table of the test databases from 18.16 to chdb: 18.16's
    DDL, its rows as stored. Returns problems found on the way."""
    problems = []
    base.query("SYSTEM STOP MERGES")
    cur.query("SYSTEM STOP MERGES")
    for db in dbs:
        cur.query("CREATE DATABASE IF NOT EXISTS " + db)
        for t in base.rows(f"SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name"):
            table = f"{db}.{t['name']}"
            ddl = base.rows(f"SHOW CREATE TABLE {table}")[0]["statement"]
            try:
                cur.query(ddl)
            except QueryError as e:
                problems.append(f"{table}: 18.16's SHOW CREATE TABLE is refused: {e}\n    {ddl}")
                continue
            cols = "SELECT name, type FROM system.columns WHERE database = '%s' AND table = '%s' ORDER BY name" % (db, t["name"])
            want, got = base.query(cols), cur.query(cols)
            if want != got:
                problems.append(f"{table}: columns differ\n    18.16:   {want!r}\n    current: {got!r}")
            src = base.url + "?" + urllib.parse.urlencode({"query": f"SELECT * FROM {table} FORMAT Native"})
            cur.query(f"INSERT INTO {table} SELECT * FROM url('{src}', 'Native') SETTINGS optimize_on_insert = 0, max_partitions_per_insert_block = 0")
            n_base = base.query(f"SELECT count() FROM {table}").strip()
            n_cur = cur.query(f"SELECT count() FROM {table}").strip()
            if n_base != n_cur:
                problems.append(f"{table}: {n_base.decode()} rows on 18.16, {n_cur.decode()} copied")
        log(f"  loaded {db}")
    return problems


def external_tables(sql):
    return [name for name in EXTERNAL_TABLES if re.search(r"\bFROM\s+%s\b" % name, sql)]


def stand_in(base, cur, names, db):
    """Create the stand-ins for the external tables names, filled from db."""
    for name in names:
        structure, fill = EXTERNAL_TABLES[name]
        fill = fill.format(db=db)
        for eng in (base, cur):
            eng.query(f"DROP TABLE IF EXISTS {name}")
            eng.query(f"CREATE TABLE {name} ({structure}) ENGINE = Memory")
            eng.query(f"INSERT INTO {name} {fill}")


def replay(base, cur, statements, log):
    """Run each SELECT on both versions and compare the sorted rows."""
    todo = [s for s in statements if s.replayed]
    for i, s in enumerate(todo, 1):
        ext = external_tables(s.select)
        if ext:
            stand_in(base, cur, ext, s.dbs[0])
        t0 = time.monotonic()
        try:
            want = base.query(s.select)
        except QueryError as e:
            s.result = ("baseline", str(e))
            continue
        t1 = time.monotonic()
        try:
            got = cur.query(s.select)
        except QueryError as e:
            s.result = ("error", str(e))
            continue
        s.seconds = (t1 - t0, time.monotonic() - t1)
        s.result = compare(s.select, want, got)
        if i % 500 == 0:
            log(f"  replayed {i}/{len(todo)}")


def compare(sql, want, got):
    a, b = sorted(want.decode(errors="replace").splitlines()), sorted(got.decode(errors="replace").splitlines())
    if a == b:
        return ("same", f"{len(a)} rows")
    for k in KNOWN:
        if k.sql.search(sql) and k.answers(a, b):
            return ("known", k.name)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "(no row)"
        y = b[i] if i < len(b) else "(no row)"
        if x != y:
            return ("differs", f"{len(a)} rows on 18.16, {len(b)} on current; first difference (sorted row {i + 1}):\n"
                               f"    18.16:   {printable(x)}\n    current: {printable(y)}")
    raise AssertionError("unreachable")


def printable(text, limit=400):
    text = "".join(c if c.isprintable() or c == "\t" else "\\x%02x" % ord(c) for c in text)
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------ report

def report(statements, problems, versions, elapsed):
    """The report as Markdown, and whether the check passed."""
    groups = {}
    for s in statements:
        key = (s.kind, shape(s.text, s.dbs))
        groups.setdefault(key, []).append(s)
    totals = {}
    for s in statements:
        status = s.result[0] if s.result else "skipped"
        totals[(s.kind, status)] = totals.get((s.kind, status), 0) + 1

    out = [f"# ClickHouse compatibility: {versions[0]} → {versions[1]}", ""]
    out.append(f"{len(statements)} distinct statements from the integration tests, {len(groups)} shapes, "
               f"checked in {elapsed:.0f} s.")
    out.append("")
    out.append("| kind | same / accepted | known difference | differs | error on current | fails on 18.16 too |")
    out.append("|---|---|---|---|---|---|")
    for kind in ("ddl", "select", "insert-select", "insert", "rename", "truncate"):
        row = [totals.get((kind, st), 0) for st in ("same", "known", "differs", "error", "baseline")]
        if any(row):
            out.append(f"| {kind} | " + " | ".join(map(str, row)) + " |")
    others = sorted({s.kind for s in statements} - {"ddl", "select", "insert-select", "insert", "rename", "truncate"})
    for kind in others:
        row = [totals.get((kind, st), 0) for st in ("same", "known", "differs", "error", "baseline")]
        out.append(f"| {kind} | " + " | ".join(map(str, row)) + " |")
    out.append("")

    failed = False
    if problems:
        failed = True
        out += ["## Settings and data", ""] + [f"- {p}" for p in problems] + [""]
    bad = [(k, g) for k, g in sorted(groups.items()) if any(s.result and s.result[0] in ("differs", "error") for s in g)]
    if bad:
        failed = True
        out += ["## Statements that fail or answer differently on current ClickHouse", ""]
        for (kind, sh), g in bad:
            worst = [s for s in g if s.result[0] in ("differs", "error")]
            out.append(f"### {kind}: {len(worst)} of {len(g)} statements of this shape")
            out.append("")
            s = worst[0]
            out += ["```sql", s.text.strip(), "```", ""]
            out += [f"**{s.result[0]}**: " + s.result[1].replace("\n", "  \n"), ""]
    known = {}
    for s in statements:
        if s.result and s.result[0] == "known":
            known.setdefault(s.result[1], []).append(s)
    if known:
        out += ["## Known differences (reported, not failed)", ""]
        for k in KNOWN:
            if k.name in known:
                g = known[k.name]
                out += [f"### {k.name}: {len(g)} statements", "", k.why, "", "```sql", g[0].text.strip(), "```", ""]
    base_only = [(k, g) for k, g in sorted(groups.items()) if all(s.result and s.result[0] == "baseline" for s in g)]
    if base_only:
        out += ["## Not compared (the statement fails on 18.16 against the data the tests left)", ""]
        for (kind, sh), g in base_only:
            out.append(f"- {kind} ×{len(g)}: `{sh[:160]}` — {g[0].result[1][:200]}")
        out.append("")
    out += ["## Every shape", "", "| kind | statements | result | shape |", "|---|---|---|---|"]
    for (kind, sh), g in sorted(groups.items()):
        counts = {}
        for s in g:
            st = s.result[0] if s.result else "skipped"
            counts[st] = counts.get(st, 0) + 1
        res = ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))
        short = sh if len(sh) <= 140 else sh[:137] + "…"
        out.append(f"| {kind} | {len(g)} | {res} | `{short.replace('|', '¦')}` |")
    return "\n".join(out) + "\n", failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clickhouse", required=True, help="18.16's HTTP URL, e.g. http://127.0.0.1:31123")
    ap.add_argument("--work", required=True, help="a directory for chdb's data (emptied by the caller)")
    ap.add_argument("--report", required=True, help="where to write the Markdown report")
    args = ap.parse_args()
    start = time.monotonic()

    def log(msg):
        print(msg, flush=True)

    base = Baseline(args.clickhouse)
    dbs, statements = capture(base)
    selects = sum(1 for s in statements if s.replayed)
    log(f"captured {len(statements)} distinct statements ({selects} to replay) on {len(dbs)} test databases")
    if selects < MIN_SELECTS:
        log(f"FAIL: fewer than {MIN_SELECTS} SELECTs captured: did the integration tests run with log_queries and kept databases?")
        return 1

    cur = Current(args.work)
    versions = (base.query("SELECT version()").decode().strip(), cur.query("SELECT version()").decode().strip())
    log(f"baseline ClickHouse {versions[0]}, current ClickHouse {versions[1]} (chdb)")
    t = time.monotonic()
    settings = captured_settings(base)
    problems = check_settings(cur, settings)
    log(f"settings in force: {', '.join(f'{n}={v}' for n, v in settings)}")
    check_ddl(cur, statements)
    check_parse(cur, statements)
    log(f"DDL and parse checks: {time.monotonic() - t:.1f} s")
    t = time.monotonic()
    problems += load(base, cur, dbs, log)
    log(f"data copied to current ClickHouse: {time.monotonic() - t:.1f} s")
    t = time.monotonic()
    replay(base, cur, statements, log)
    log(f"replayed: {time.monotonic() - t:.1f} s")
    cur.close()

    text, failed = report(statements, problems, versions, time.monotonic() - start)
    with open(args.report, "w") as f:
        f.write(text)
    summary = text.split("## ")[0]
    log(summary.rstrip())
    if failed:
        bad = text[text.find("## "):text.find("## Every shape")]
        log(bad.rstrip())
        log(f"FAIL: see {args.report}")
        return 1
    log(f"PASS: every statement is accepted and every answer is the same on ClickHouse {versions[1]} ({args.report})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
