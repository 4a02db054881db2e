"""Unit tests of locus_ref/steal.py: /proc/stat arithmetic and the retried benchmark rounds. Pure
Python (no torch), so `make test` runs them on a fresh machine:

    python3 -m unittest discover -s scripts/reference/tests
"""
import importlib.util
import unittest
from pathlib import Path

_spec = importlib.util.spec_from_file_location("steal", Path(__file__).resolve().parent.parent / "locus_ref" / "steal.py")
steal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(steal)


def scripted(shares):
    """A measure() that reports the given steal shares, one per round, in order."""
    it = iter(shares)
    return lambda fn: (fn(), next(it))


class FractionTests(unittest.TestCase):
    def test_share_of_the_eighth_counter(self):
        start = [100, 0, 50, 800, 0, 0, 0, 50]
        end = [160, 0, 70, 860, 0, 0, 0, 60]  # 150 ticks, 10 stolen
        self.assertAlmostEqual(steal.fraction(start, end), 10 / 150)

    def test_unknown_when_missing_or_backwards(self):
        self.assertIsNone(steal.fraction(None, [1] * 8))
        self.assertIsNone(steal.fraction([5] * 8, [4] + [5] * 7))
        self.assertIsNone(steal.fraction([5] * 8, [5] * 8))


class CleanRoundsTests(unittest.TestCase):
    def test_all_clean_rounds_are_kept_in_order(self):
        kept, info = steal.clean_rounds(3, lambda i: f"r{i}", measure=scripted([0.01, 0.0, 0.05]))
        self.assertEqual(kept, ["r0", "r1", "r2"])
        self.assertEqual(info, {"steal": [0.01, 0.0, 0.05], "discarded": 0, "disturbed": 0})

    def test_a_stolen_round_is_run_again(self):
        kept, info = steal.clean_rounds(3, lambda i: f"r{i}", measure=scripted([0.02, 0.30, 0.01, 0.0]))
        self.assertEqual(kept, ["r0", "r2", "r3"])
        self.assertEqual(info["discarded"], 1)
        self.assertEqual(info["disturbed"], 0)
        self.assertEqual(steal.describe_rounds(info), "max 2 %, 1 discarded")

    def test_retries_run_out_then_the_least_stolen_make_up_the_number(self):
        calls = []
        run = lambda i: calls.append(i) or f"r{i}"
        kept, info = steal.clean_rounds(2, run, extra=2, measure=scripted([0.4, 0.1, 0.02, 0.3]))
        self.assertEqual(calls, [0, 1, 2, 3])  # count + extra rounds, no more
        self.assertEqual(kept, ["r1", "r2"])  # the clean one and the least-stolen of the others
        self.assertEqual(info, {"steal": [0.1, 0.02], "discarded": 2, "disturbed": 1})
        self.assertEqual(steal.describe_rounds(info), "max 10 %, 2 discarded, 1 kept above the limit")

    def test_unknown_steal_counts_as_clean(self):
        kept, info = steal.clean_rounds(2, lambda i: i, measure=scripted([None, None]))
        self.assertEqual(kept, [0, 1])
        self.assertEqual(steal.describe_rounds(info), "unknown")

    def test_measured_reads_proc_stat_around_the_call(self):
        result, share = steal.measured(lambda: 42)
        self.assertEqual(result, 42)
        self.assertTrue(share is None or 0.0 <= share <= 1.0)


if __name__ == "__main__":
    unittest.main()
