"""Run the pack's hand-written cases: policies/huzhou-2025/tests/*.yaml.

Each case quotes the clause it checks (the quote must occur in the document),
gives a subject with dated events, and lists every entitlement expected, in
the calculator's order (events by date, then id; rules in pack order), with the
amount worked out by hand from the clause.

`expect.totals` gives the sums per verdict (ceiling 最高可得, floor 至少, exact, tax);
a verdict left out must be 0.00. `expect.by_measure` is the count of benefits whose
amount another policy sets (checked when given). `expect.total`, the compatibility sum of
all four, may be given as well. An entitlement may state its `verdict` (what its
amount means: a floor that a cap bound is a ceiling).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.engine.output import result_to_dict
from zhida.rules.pack import load_pack
from zhida.source.script import canonical

PACK_PATH = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
CASE_KEYS = {"name", "clause", "case", "expect"}
EXPECT_KEYS = {"total", "totals", "by_measure", "entitlements", "unmatched"}
ENTITLEMENT_KEYS = {"rule", "event", "amount", "caps_hit", "tax_due", "in_validity", "verdict"}
VERDICTS = ("ceiling", "floor", "exact", "tax")


def _cases() -> list[tuple[str, dict]]:
    cases = []
    for path in sorted((PACK_PATH / "tests").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append((f"{path.stem}: {item['name']}", item))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def pack():
    return load_pack(PACK_PATH)


def test_there_are_at_least_80_cases():
    assert len(CASES) >= 80, len(CASES)
    names = [name for name, _ in CASES]
    assert len(names) == len(set(names)), "case names must be unique"


@pytest.mark.parametrize("name, item", CASES, ids=[name for name, _ in CASES])
def test_case(pack, name, item):
    assert set(item) == CASE_KEYS, f"{name}: keys {sorted(item)}"
    assert set(item["expect"]) <= EXPECT_KEYS and {"total", "totals"} & set(item["expect"]), name
    assert canonical(item["clause"]) in canonical(pack.document.text), f"{name}: clause not in the document"
    result = result_to_dict(pack, calculate(pack, case_from_data(item["case"], pack, name)))
    expected = item["expect"]
    got = []
    entries = expected["entitlements"] + [{}] * len(result["entitlements"])
    for entitlement, entry in zip(result["entitlements"], entries):
        got.append(
            {
                "rule": entitlement["rule"],
                "event": str(entitlement["event"]),
                "amount": entitlement["amount"],
                "caps_hit": entitlement["caps_hit"],
                "tax_due": entitlement["tax_due"],
                "in_validity": entitlement["in_validity"],
                **({"verdict": entitlement["verdict"]} if "verdict" in entry else {}),
            }
        )
    want = []
    for entry in expected["entitlements"]:
        assert set(entry) <= ENTITLEMENT_KEYS and {"rule", "event", "amount"} <= set(entry), f"{name}: {entry}"
        want.append(
            {
                "rule": entry["rule"],
                "event": str(entry["event"]),
                "amount": None if entry["amount"] is None else str(entry["amount"]),
                "caps_hit": list(entry.get("caps_hit", [])),
                "tax_due": None if entry.get("tax_due") is None else str(entry["tax_due"]),
                "in_validity": entry.get("in_validity", True),
                **({"verdict": entry["verdict"]} if "verdict" in entry else {}),
            }
        )
    assert got == want, name
    if "totals" in expected:
        assert set(expected["totals"]) <= set(VERDICTS), f"{name}: totals {sorted(expected['totals'])}"
        assert result["totals"] == {kind: str(expected["totals"].get(kind, "0.00")) for kind in VERDICTS}, name
    if "total" in expected:
        assert result["total"] == str(expected["total"]), name
    if "by_measure" in expected:
        assert result["by_measure"] == expected["by_measure"], name
    assert [u["event"] for u in result["unmatched"]] == [str(e) for e in expected.get("unmatched", [])], name


def test_every_rule_and_every_cap_is_exercised(pack):
    rules, caps = set(), set()
    for name, item in CASES:
        for entry in item["expect"]["entitlements"]:
            rules.add(entry["rule"])
            caps.update(entry.get("caps_hit", []))
    assert {rule.id for rule in pack.rules} - rules == set()
    all_caps = {cap.id for rule in pack.rules for cap in rule.caps}
    assert all_caps - caps == set()
