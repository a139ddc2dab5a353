"""A calculation result as JSON-ready data or as a readable table, in either script.

Amounts are decimal strings ("40000.00"), never floats. Text is Simplified
Chinese; with `traditional=True` it is converted by OpenCC, and the clause is
quoted verbatim from the (Traditional) document.

`kind` is the rule's kind; `verdict` is what the amount means (the kind, except that
a floor a cap bound is a `ceiling`). `totals` sums the amounts per verdict (ceiling
最高可得, floor 至少, exact 应得, tax 节税), `by_measure` counts the benefits whose
amount another policy sets. `total` is kept for compatibility: the plain sum of the
four totals, an amount nobody receives (policies/huzhou-2025/README.md).

Every entitlement names the pack whose document pays it (`pack`), its layer (`layer`: base or
county, `layer_label`: 基础政策 / 区县承接方案) and that document's title (`document`); its clause
is quoted from that document. `notes` says which layers applied to the subject.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from zhida.engine.calculate import VERDICTS, Result
from zhida.rules.model import LAYER_NAMES, STACKING_NAMES
from zhida.rules.pack import Pack

if TYPE_CHECKING:
    from zhida.engine.several import Several
from zhida.source.script import to_simplified, to_traditional


def result_to_dict(pack: Pack, result: Result, traditional: bool = False) -> dict[str, Any]:
    script = to_traditional if traditional else (lambda text: text)
    entitlements = []
    for item in result.entitlements:
        rule = item.rule
        original = rule.quoted or pack.document.text[rule.clause_span[0] : rule.clause_span[1]]
        entitlements.append(
            {
                "rule": rule.id,
                "pack": rule.pack or pack.id,
                "layer": rule.layer.value,
                "layer_label": script(LAYER_NAMES[rule.layer]),
                "document": script(to_simplified(pack.document_of(rule).preamble.title)),
                "dropped": script(item.dropped) if item.dropped else None,
                "title": script(rule.spec.title),
                "article": rule.spec.article,
                "kind": rule.spec.kind.value,
                "verdict": item.verdict.value,
                "verdict_label": script(VERDICTS[item.verdict]),
                "event": item.event.id,
                "date": item.event.date.isoformat(),
                "amount": _decimal_text(item.amount),
                "tax_due": _decimal_text(item.tax_due),
                "result": script(rule.spec.result) if rule.spec.result else None,
                "amount_by": script(rule.spec.amount_by) if rule.spec.amount_by else None,
                "assumption": script(rule.spec.assumption) if rule.spec.assumption else None,
                "caps_hit": list(item.caps_hit),
                "in_validity": item.in_validity,
                "trace": [script(line) for line in item.trace],
                "clause": original if traditional else to_simplified(original),
                "clause_span": list(rule.clause_span),
                "department": script(to_simplified(rule.department)),
            }
        )
    subject = result.case.subject
    return {
        "case": result.case.name,
        "pack": pack.id,
        "subject": {"id": subject.id, "kind": subject.kind, "name": subject.name, "county": subject.county},
        "notes": [script(note) for note in result.notes],
        "entitlements": entitlements,
        "totals": {kind.value: _decimal_text(amount) for kind, amount in result.totals.items()},
        "by_measure": result.by_measure,
        "total": _decimal_text(result.total),
        "unmatched": [
            {"event": item.event.id, "reasons": [script(reason) for reason in item.reasons]} for item in result.unmatched
        ],
    }


def several_to_dict(several: Several, traditional: bool = False) -> dict[str, Any]:
    """A case under several packs: each pack's result as `result_to_dict` gives it, the overlaps
    decided between them (`mode` stacks / higher / null for undeclared) and the totals over all."""
    script = to_traditional if traditional else (lambda text: text)
    return {
        "packs": [result_to_dict(pack, result, traditional) for pack, result in several.results],
        "overlaps": [
            {
                "event": overlap.event,
                "mode": overlap.mode.value if overlap.mode is not None else None,
                "mode_label": script(STACKING_NAMES[overlap.mode] if overlap.mode is not None else "未规定"),
                "kept": list(overlap.kept),
                "dropped": list(overlap.dropped),
                "reason": script(overlap.reason),
            }
            for overlap in several.overlaps
        ],
        "totals": {kind.value: _decimal_text(amount) for kind, amount in several.totals.items()},
    }


def _decimal_text(value: Decimal | None) -> str | None:
    """A decimal as plain digits ("40000.00"): never exponent notation, never "-0.00"."""
    if value is None:
        return None
    return format(value.copy_abs() if value.is_zero() else value, "f")
