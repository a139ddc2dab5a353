"""How much of a pack `zhida draft` gets right, on documents whose benefits are known by hand.

What goes in: the hand-written family documents (tests/data/jiaxing-2026.txt with
tests/data/drafted/jiaxing-2026.benefits.yaml, tests/data/family/*.txt with the `benefits:` list
of their *.expected.yaml) and Huzhou 2025 against its finished pack (src/zhida/policies/huzhou-2025,
encoded by hand, taken as the truth). What comes out: one table row per document:

  benefit sentences   how many the truth lists, and how many a drafted rule quotes (its clause
                      and the truth's sentence overlap, in the same article)
  amounts / rates     single amounts and rates of the truth that a drafted rule quoting that
                      sentence pays with the same value (a rate as its fraction: 30% -> 0.3)
  tiers               enumerations (分别给予X、Y、Z) drafted as one rule per tier, values in order
  caps                per-item and annual caps drafted with the same yuan and scope
  thresholds          conditions (2000万元以上) the draft names in a `when` hint
  tier labels         drafted tier groups whose `when` names each tier (category = '全国重点实验室')
  TODOs               what the analyst must still fill

Huzhou's truth is the finished pack: each rule's numeric literals (amount), each tier group (rules
quoting one clause with different literal amounts), each cap (per, yuan, clause), and every grant
sentence (`coverage.grant_clauses`), a skeleton meaning a drafted rule, cap or not_benefits entry
whose clause covers its grant words.

Run: python bench/draft_bench.py
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import yaml
from sqlglot import exp

from zhida.rules.coverage import grant_clauses
from zhida.rules.draft import Draft, DraftRule, draft, todos, write_draft
from zhida.rules.model import CapScope
from zhida.rules.pack import load_pack
from zhida.source import parse_file
from zhida.source.script import canonical

ROOT = Path(__file__).resolve().parents[1]
HUZHOU = ROOT / "src" / "zhida" / "policies" / "huzhou-2025"


def family() -> list[tuple[str, Path, list[dict]]]:
    """(name, document, benefits) for every hand-written family document."""
    jiaxing = _benefits(ROOT / "tests/data/drafted/jiaxing-2026.benefits.yaml")
    found = [("jiaxing-2026", ROOT / "tests/data/jiaxing-2026.txt", jiaxing)]
    for expected in sorted((ROOT / "tests/data/family").glob("*.expected.yaml")):
        data = yaml.safe_load(expected.read_text(encoding="utf-8"))
        if data.get("benefits"):
            found.append((expected.name.removesuffix(".expected.yaml"), expected.parent / data["document"], data["benefits"]))
    return found


def _benefits(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["benefits"]


def _quotes(rule: DraftRule, sentence: str) -> bool:
    clause, words = canonical(rule.clause), canonical(sentence).rstrip("。;")
    return clause in words or words in clause


def _tier_groups(rules: list[DraftRule]) -> list[tuple[Decimal, ...]]:
    groups: dict[str, list[DraftRule]] = {}
    for rule in rules:
        if rule.tier:
            groups.setdefault(rule.id.rsplit("-tier", 1)[0], []).append(rule)
    return [tuple(rule.values[0] for rule in sorted(group, key=lambda rule: rule.tier)) for group in groups.values()]


def measure_family(name: str, document: Path, benefits: list[dict]) -> dict[str, object]:
    result = draft(parse_file(document))
    caps = {cap.id: cap for cap in result.caps}
    row = _row(name, result, document)
    for benefit in benefits:
        rules = [rule for rule in result.rules if rule.article == benefit["article"] and _quotes(rule, benefit["sentence"])]
        row["sentences"][0] += 1
        row["sentences"][1] += bool(rules)
        values = {value for rule in rules for value in rule.values}
        for key, scale in (("amount", 1), ("rate", 100)):
            if key in benefit:
                row["amounts"][0] += 1
                row["amounts"][1] += Decimal(benefit[key]) / scale in {rule.values[0] for rule in rules if rule.values}
        if "tiers" in benefit:
            row["tiers"][0] += 1
            row["tiers"][1] += tuple(Decimal(value) for value in benefit["tiers"]) in _tier_groups(rules)
        if "cap" in benefit:
            per = CapScope.SUBJECT_YEAR if "全年" in canonical(benefit.get("cap_per", "")) else CapScope.ITEM
            drafted = [caps[cap_id] for rule in rules for cap_id in rule.caps]
            row["caps"][0] += 1
            row["caps"][1] += any(cap.yuan == Decimal(benefit["cap"]) and cap.per is per for cap in drafted)
        for key, scale in (("threshold", 1), ("threshold_rate", 100)):
            if key in benefit:
                row["thresholds"][0] += 1
                row["thresholds"][1] += Decimal(benefit[key]) / scale in values
    return row


def measure_huzhou() -> dict[str, object]:
    finished = load_pack(HUZHOU)
    document = finished.document
    result = draft(document)
    row = _row(f"huzhou-2025 (vs the finished pack: {len(finished.rules)} rules)", result, HUZHOU / "document.txt")
    drafted = [*result.rules, *result.caps, *(mark for area in result.areas for mark in area.not_benefits)]
    spans = [(item.span.start, item.span.end) for item in drafted]
    sentences: dict[int, list] = {}
    for grant in grant_clauses(document):
        sentences.setdefault(grant.sentence.index, []).extend(grant.marks)
    for marks in sentences.values():
        row["sentences"][0] += 1
        row["sentences"][1] += all(any(start < mark.end and mark.start < end for start, end in spans) for mark in marks)
    by_clause: dict[tuple[int, int], list] = {}
    for rule in finished.rules:
        literals = _literals(rule.amount)
        if not literals:
            continue
        by_clause.setdefault(rule.clause_span, []).append((rule, literals))
    for clause_span, group in by_clause.items():
        near = [rule for rule in result.rules if rule.article == group[0][0].spec.article and _overlap(rule.span, clause_span)]
        drafted_values = {value for rule in near for value in rule.values}
        tier_values = sorted({value for _rule, literals in group for value in literals})
        if len(group) > 1 and len(tier_values) > 1:
            row["tiers"][0] += 1
            row["tiers"][1] += any(sorted(set(tiers)) == tier_values for tiers in _tier_groups(near))
        for _rule, literals in group:
            row["amounts"][0] += 1
            row["amounts"][1] += bool(literals & drafted_values)
    finished_caps = {cap.id: cap for rule in finished.rules for cap in rule.caps}
    for cap in finished_caps.values():
        row["caps"][0] += 1
        row["caps"][1] += any(
            drafted.yuan == cap.yuan and drafted.per is cap.per and _nested(drafted.clause, cap.clause)
            for drafted in result.caps
        )
    row["thresholds"] = None
    return row


def _nested(one: str, other: str) -> bool:
    one, other = canonical(one), canonical(other)
    return one in other or other in one


def _literals(expression) -> set[Decimal]:
    if expression is None:
        return set()
    return {Decimal(literal.this) for literal in expression.tree.find_all(exp.Literal) if not literal.is_string}


def _overlap(span, other: tuple[int, int]) -> bool:
    return span.start < other[1] and other[0] < span.end


def _row(name: str, result: Draft, document: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "pack"
        write_draft(result, document, out)
        left = len(todos(out))
    groups: dict[str, list[DraftRule]] = {}
    for rule in result.rules:
        if rule.tier:
            groups.setdefault(rule.id.rsplit("-tier", 1)[0], []).append(rule)
    labelled = sum(all(rule.when for rule in group) for group in groups.values())
    return {
        "name": name, "rules": len(result.rules), "todos": left, "labels": [len(groups), labelled],
        "sentences": [0, 0], "amounts": [0, 0], "tiers": [0, 0], "caps": [0, 0], "thresholds": [0, 0],
    }


def _cell(pair: list[int] | None) -> str:
    if pair is None:
        return "—"
    total, right = pair
    return f"{right}/{total}" + (f" ({right * 100 // total}%)" if total else "")


def main() -> None:
    rows = [measure_family(*item) for item in family()]
    rows.append(measure_huzhou())
    print(
        "| document | benefit sentences with a skeleton | amounts and rates right | tiers right | caps right "
        "| thresholds hinted | tier labels guessed | rules drafted | TODOs left |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['name']} | {_cell(row['sentences'])} | {_cell(row['amounts'])} | {_cell(row['tiers'])} | "
            f"{_cell(row['caps'])} | {_cell(row['thresholds'])} | {_cell(row['labels'])} | {row['rules']} | {row['todos']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
