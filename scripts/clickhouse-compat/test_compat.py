"""Unit tests of compat.py's pure parts (no ClickHouse, no chdb):
python3 -m unittest discover -s scripts/clickhouse-compat"""

import unittest

import compat

AGG_EMPTY = ("SELECT '' AS g_client, '' AS g_metric, toInt64(0) AS g_bucket, sum(v.2), sum(v.3), min(v.4), max(v.5) "
             "FROM (SELECT ...) GROUP BY g_client, g_metric, g_bucket LIMIT 100001")


class Classify(unittest.TestCase):
    def test_kinds(self):
        cases = [
            ("SELECT 1", "select", "SELECT 1"),
            ("  WITH x AS (SELECT 1) SELECT * FROM x", "select", "  WITH x AS (SELECT 1) SELECT * FROM x"),
            ("INSERT INTO db.t (a, b) SELECT a, b FROM db.u", "insert-select", "SELECT a, b FROM db.u"),
            ("INSERT INTO db.t SELECT * FROM db.u", "insert-select", "SELECT * FROM db.u"),
            ("INSERT INTO db.t (a, b) VALUES", "insert", None),
            ("INSERT INTO db.t (a, b) FORMAT Native", "insert", None),
            ("CREATE TABLE IF NOT EXISTS db.t (a String) ENGINE = Memory", "ddl", None),
            ("RENAME TABLE db.a TO db.b", "rename", None),
            ("TRUNCATE TABLE db.a", "truncate", None),
        ]
        for text, kind, select in cases:
            with self.subTest(text=text):
                self.assertEqual(compat.classify(text), (kind, select))


class Shape(unittest.TestCase):
    def test_literals_and_databases_go(self):
        a = compat.shape("SELECT x FROM tally_test_0a.state WHERE tenant = 'a' AND bucket IN (1, 2, 3) LIMIT 10",
                         ["tally_test_0a"])
        b = compat.shape("SELECT x FROM tally_test_1b.state WHERE tenant = 'o\\'b' AND bucket IN (7) LIMIT 5",
                         ["tally_test_1b"])
        self.assertEqual(a, "SELECT x FROM {db}.state WHERE tenant = ? AND bucket IN (?…) LIMIT ?")
        self.assertEqual(b, "SELECT x FROM {db}.state WHERE tenant = ? AND bucket IN (?) LIMIT ?")

    def test_or_lists_collapse(self):
        one = compat.shape("WHERE ((level = 1 AND bucket >= 5) OR (level = 2 AND bucket < 9))", [])
        two = compat.shape("WHERE ((level = 1 AND bucket >= 5) OR (level = 2) OR (level = 3 AND bucket < 9))", [])
        self.assertEqual(one, two)

    def test_identifiers_with_digits_stay(self):
        self.assertEqual(compat.shape("SELECT v.2, toInt64(0), m1 FROM t", []), "SELECT v.2, toInt64(?), m1 FROM t")


class Compare(unittest.TestCase):
    def test_same_whatever_the_order(self):
        self.assertEqual(compat.compare("SELECT 1", b"b\t2\na\t1\n", b"a\t1\nb\t2\n"), ("same", "2 rows"))

    def test_first_difference_is_shown(self):
        status, detail = compat.compare("SELECT 1", b"a\t1\nb\t2\n", b"a\t1\nb\t3\n")
        self.assertEqual(status, "differs")
        self.assertIn("sorted row 2", detail)
        self.assertIn("18.16:   b\t2", detail)
        self.assertIn("current: b\t3", detail)

    def test_missing_rows(self):
        status, detail = compat.compare("SELECT 1", b"a\n", b"")
        self.assertEqual(status, "differs")
        self.assertIn("current: (no row)", detail)

    def test_known_difference_needs_both_statement_and_answers(self):
        zero = b"\t\t0\t0\t0.000000000\t0.000000000\t0.000000000\n"
        self.assertEqual(compat.compare(AGG_EMPTY, zero, b""), ("known", "GROUP BY constant keys over no rows"))
        # Another statement with the same answers is a difference.
        self.assertEqual(compat.compare("SELECT count() FROM t", zero, b"")[0], "differs")
        # The same statement with a non-zero row missing is a difference.
        self.assertEqual(compat.compare(AGG_EMPTY, b"\t\t0\t3\t1.000000000\t0.000000000\t1.000000000\n", b"")[0],
                         "differs")
        # Rows on both sides are compared as usual.
        self.assertEqual(compat.compare(AGG_EMPTY, zero, b"\t\t0\t1\t1.000000000\t1.000000000\t1.000000000\n")[0],
                         "differs")


class Helpers(unittest.TestCase):
    def test_printable(self):
        self.assertEqual(compat.printable("a\tb\x00c"), "a\tb\\x00c")
        self.assertTrue(compat.printable("x" * 500).endswith("…"))

    def test_external_tables(self):
        self.assertEqual(compat.external_tables("... IN (SELECT bucket FROM keys) GROUP BY ..."), ["keys"])
        self.assertEqual(compat.external_tables("... IN (SELECT tenant, event_id FROM ids)"), ["ids"])
        self.assertEqual(compat.external_tables("SELECT * FROM db.keys_v1"), [])


if __name__ == "__main__":
    unittest.main()
