"""Peer check for `anneal audit`: Fairlearn's MetricFrame and fairness metrics on the same
predictions give the same per-group accuracy, selection rate, true and false positive rates,
demographic parity difference and ratio, and equalized-odds difference (within 1e-9); and the
gaps `anneal test` gates examples/income on (its `[[check]]`s with `by`) are Fairlearn's too.

Usage: python3 tests/peer/check_groups.py PATH/TO/anneal
Builds examples/income (UCI Adult); skips when ../shared/datasets/adult is absent.
Needs: pip install fairlearn
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from fairlearn.metrics import (MetricFrame, demographic_parity_difference, demographic_parity_ratio,
                               equalized_odds_difference, false_positive_rate, selection_rate,
                               true_positive_rate)
from sklearn.metrics import accuracy_score

from check_table_package import ADULT, build

METRICS = {"accuracy": accuracy_score, "selection_rate": selection_rate,
           "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate}

GAPS = {"demographic_parity_difference": demographic_parity_difference,
        "demographic_parity_ratio": demographic_parity_ratio,
        "equalized_odds_difference": equalized_odds_difference}


def test_rows():
    """adult.test's rows as dicts, in file order (the ids `test:NNNNN` index them)."""
    with open(os.path.join(ADULT, "adult.test")) as f:
        return list(csv.DictReader(f, skipinitialspace=True))


def compare(field, ours, y_true, y_pred, groups):
    """The largest difference between anneal's figures for `field` and Fairlearn's."""
    frame = MetricFrame(metrics=METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    worst = 0.0
    for g in ours["groups"]:
        for name in METRICS:
            theirs = frame.by_group.loc[g["value"], name]
            mine = g[name]["value"] if g[name] else float("nan")
            if not (np.isnan(theirs) and np.isnan(mine)):
                worst = max(worst, abs(theirs - mine))
    for name, fn in GAPS.items():
        worst = max(worst, abs(fn(y_true, y_pred, sensitive_features=groups) - ours[name]["value"]))
    return worst


def compare_gates(anneal, prog, y_true, y_pred, rows, index):
    """The example's gap checks as `anneal test` measures them against Fairlearn's functions:
    how many, and the largest difference (its fields' groups all count: none is under 30)."""
    out = subprocess.run([anneal, "test", "-C", prog, "--json"], check=True, capture_output=True, text=True)
    gaps = [r for r in json.loads(out.stdout)["results"] if "groups" in r]
    worst = 0.0
    for r in gaps:
        metric, field = r["name"].split(" by ")
        groups = np.array([rows[i][field] for i in index])
        worst = max(worst, abs(GAPS[metric](y_true, y_pred, sensitive_features=groups) - r["value"]))
    return len(gaps), worst


def main():
    if not os.path.isdir(ADULT):
        print(f"skipped: {ADULT} is absent")
        return
    anneal = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="anneal-peer-groups-")
    try:
        package = build(anneal, tmp)
        prog = os.path.dirname(os.path.dirname(package))
        out = subprocess.run([anneal, "audit", "-C", prog, "--by", "sex", "--by", "race", "--min-group", "0",
                              "--resamples", "0", "--json"], check=True, capture_output=True, text=True)
        audit = json.loads(out.stdout)
        with open(package.replace(".anneal", ".report.json")) as f:
            report = json.load(f)
        rows = test_rows()
        index = [int(i.split(":")[1]) for i in report["test"]["ids"]]
        y_true = np.array(report["test"]["labels"])
        y_pred = np.array(report["test"]["probs"]).argmax(1)
        failures = 0
        for field in audit["fields"]:
            groups = np.array([rows[i][field["field"]] for i in index])
            worst = compare(field["field"], field, y_true, y_pred, groups)
            print(f"groups peer check, {field['field']}: {len(field['groups'])} groups, "
                  f"DPD {field['demographic_parity_difference']['value']:.4f}, "
                  f"EOD {field['equalized_odds_difference']['value']:.4f}, max |anneal - fairlearn| = {worst:.1e}")
            failures += worst > 1e-9
        gates, worst = compare_gates(anneal, prog, y_true, y_pred, rows, index)
        print(f"gates peer check: {gates} gaps of `anneal test`, max |anneal - fairlearn| = {worst:.1e}")
        failures += gates == 0 or worst > 1e-9
        assert failures == 0, "anneal and Fairlearn disagree"
        print(f"{len(audit['fields'])} passed, 0 failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
