"""免申即享: entitlements found by `zhida match` become proposals; a department confirms them in bulk.

In: the output of `zhida match` (Parquet, CSV or xlsx: subject_id, event_id, date, rule, kind, amount,
caps_hit, in_validity, …) and the register's subjects file (subject_id, kind, name, county). Out:
one `Proposal` per entitlement with money, and the subjects the ledger did not know yet.

An import is one transaction: every row is checked first (rule known, subject code valid for its
kind, amount not negative, date a date); one bad row refuses the whole file, naming file, row and
column, and nothing is written. Rows are numbered as a spreadsheet shows them (the header is row 1).
Rows that carry no money of this document are skipped and counted, not refused:
- in_validity false: the claim lies outside the rule's validity (the calculator gave no amount);
- qualification: a status (纳入清单), not money;
- by_measure: the amount is set by the department's implementing measures, not by this document;
- an amount of 0.00: an annual cap already used up by earlier claims in the file.
(rule_id, event_id) is unique: importing the same file again adds nothing.

A verdict is the rule's kind, except that a floor whose cap bound (caps_hit not empty) is a ceiling:
the calculator's rule (engine/calculate.py): 不低于60%…不超過100萬元 gives at most the cap.

Confirmation turns proposals into awards through `review.award` (caps, budget, 公示) in one
transaction; a proposal a cap or a budget refuses stays `proposed`, listed with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.identity import county_name, county_problem, normalise_code
from zhida.ledger.subjects import department_of, subject_id_problem
from zhida.rules.model import Kind
from zhida.rules.pack import Pack

REQUIRED = ("subject_id", "event_id", "date", "rule", "kind", "amount", "caps_hit", "in_validity")
SKIP_REASONS = {
    "outside_validity": "不在政策有效期内(无金额)",
    "qualification": "资格认定(是一种身份,不是金额)",
    "by_measure": "按配套政策执行(本文件未写明金额)",
    "no_amount": "无金额",
    "zero_amount": "金额为零(年度上限已用尽)",
    "duplicate_in_file": "文件内重复(同一规则、同一事件)",
}
CHUNK = 5000  # ids per IN (…) list: under every database's bound-parameter limit


@dataclass
class ImportSummary:
    """What an import did: counts, skips by reason, and amounts per department and verdict (never mixed)."""

    source: str
    rows: int = 0
    imported: int = 0
    already: int = 0
    subjects_created: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_department: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)

    def add(self, department: str, verdict: str, amount: Decimal) -> None:
        count, total = self.by_department.get((department, verdict), (0, Decimal("0.00")))
        self.by_department[(department, verdict)] = (count + 1, total + amount)


@dataclass(frozen=True)
class _Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    subject_id: str
    event_id: str
    date: dt.date
    rule_id: str
    amount: Decimal | None
    caps_hit: str
    in_validity: bool
    carrier: str | None  # the holder of a per-carrier cap (column `carrier` of zhida match), else None


# --------------------------------------------------------------------------- reading files


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of a Parquet or CSV file as dicts; decimals stay Decimal (CSV cells stay text)."""
    if not path.is_file():
        raise Refused(422, f"{path}: 文件不存在")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=False,
                                                                             column_types=_all_text(path)))
            return table.to_pylist()
        if suffix == ".xlsx":
            return _xlsx_rows(path)
    except Refused:
        raise
    except Exception as error:  # noqa: BLE001 — a broken file: one sentence naming it
        raise Refused(422, f"{path}: 无法读取:{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    raise Refused(422, f"{path}: 须为 .parquet、.csv 或 .xlsx 文件(zhida match 的输出)")


def _xlsx_rows(path: Path) -> list[dict[str, Any]]:
    """The first sheet's rows under its header row (zhida match writes amounts there as exact text)."""
    from openpyxl import load_workbook

    from zhida.engine.match import COLUMN_TITLES

    keys = {title: key for key, title in COLUMN_TITLES.items()}  # zhida match's Excel has Chinese headers
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [keys.get(str(name), str(name)) if name is not None else "" for name in next(rows, ())]
        return [dict(zip(header, map(_exact, values), strict=False)) for values in rows if any(v is not None for v in values)]
    finally:
        workbook.close()


def _exact(value: Any) -> Any:
    """A numeric cell as the decimal it was written as (zhida match writes amounts as numeric cells):
    the float's shortest round-trip text, which `_amount` then checks for two decimals at most."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _all_text(path: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = pcsv.open_csv(path).schema.names
    return {name: pa.string() for name in names}


def _columns(path: Path, rows: list[dict[str, Any]], required: Iterable[str]) -> None:
    present = set(rows[0]) if rows else set(required)
    missing = [name for name in required if name not in present]
    if missing:
        raise Refused(422, f"{path}: 缺少列 {'、'.join(missing)}")


def _rows(path: Path, raw: list[dict[str, Any]]) -> Iterator[_Row]:
    for index, data in enumerate(raw, start=2):
        yield _Row(
            number=index,
            subject_id=normalise_code(_text(path, index, "subject_id", data["subject_id"])),
            event_id=_text(path, index, "event_id", data["event_id"]),
            date=_date(path, index, data["date"]),
            rule_id=_text(path, index, "rule", data["rule"]),
            amount=_amount(path, index, data["amount"]),
            caps_hit=str(data["caps_hit"] or ""),
            in_validity=_flag(path, index, data["in_validity"]),
            carrier=_carrier(path, index, data.get("carrier")),
        )


def _carrier(path: Path, row: int, value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if len(text) > 100:
        raise Refused(422, f"{_where(path, row, 'carrier')}: 载体名称超过 100 个字")
    return text


def _where(path: Path, row: int, column: str) -> str:
    return f"{path}: 第 {row} 行,列 {column}"


def _text(path: Path, row: int, column: str, value: Any) -> str:
    if value is None or not str(value).strip():
        raise Refused(422, f"{_where(path, row, column)}: 不能为空")
    text = str(value).strip()
    if len(text) > 100:
        raise Refused(422, f"{_where(path, row, column)}: 超过 100 个字符")
    return text


def _date(path: Path, row: int, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise Refused(422, f"{_where(path, row, 'date')}: {value!r} 不是日期(YYYY-MM-DD)") from None


def _amount(path: Path, row: int, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        raise Refused(422, f"{_where(path, row, 'amount')}: 金额是浮点数,须为精确的十进制数")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refused(422, f"{_where(path, row, 'amount')}: {value!r} 不是金额") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise Refused(422, f"{_where(path, row, 'amount')}: {value!r} 不是金额(最多两位小数)")
    if amount < 0:
        raise Refused(422, f"{_where(path, row, 'amount')}: 金额 {amount} 为负数")
    return amount


def _flag(path: Path, row: int, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise Refused(422, f"{_where(path, row, 'in_validity')}: {value!r} 应为 true 或 false")


# --------------------------------------------------------------------------- import


def import_proposals(
    session: Session, pack: Pack, actor: Actor, entitlements: Path, subjects: Path | None = None
) -> ImportSummary:
    """Every money row of `entitlements` as a proposal (see the module's docstring); raises Refused
    before writing anything when a row is bad. The caller's transaction makes it all or nothing.
    Subjects not yet in the ledger are taken from the register's `subjects` file; without one, every
    subject must be in the ledger already."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    raw = read_table(entitlements)
    _columns(entitlements, raw, REQUIRED)
    if raw and "pack" in raw[0]:
        # A several-pack match (stacking decided across documents) names other packs' rules and
        # amounts given up to them; the ledger pays one pack's rules, from that pack's own match.
        raise Refused(422, f"{entitlements}: 这是多个政策包一并匹配的结果(有 pack 列);账本只办理政策包 {pack.id},"
                           f"请用 zhida match --pack {pack.id} 单独匹配的结果")
    rows = list(_rows(entitlements, raw))
    summary = ImportSummary(source=str(entitlements), rows=len(rows))
    rules = {rule.id: rule for rule in pack.rules}
    for row in rows:
        if row.rule_id not in rules:
            raise Refused(422, f"{_where(entitlements, row.number, 'rule')}: 未知的规则 {row.rule_id!r}(不在政策包中)")
    known = _known_subjects(session, {row.subject_id for row in rows})
    register = _register(subjects, {row.subject_id for row in rows} - set(known))
    kinds = {**{code: kind for code, (kind, _, _) in register.items()}, **known}
    for row in rows:
        _check_subject(entitlements, subjects, row, kinds, rules[row.rule_id].spec.subject)
    wanted = _wanted(rows, rules, summary)
    existing = _existing(session, {row.rule_id for row in wanted})
    new_subjects: dict[str, tuple[str, str, str | None]] = {}
    proposals: list[t.Proposal] = []
    for row in wanted:
        if (row.rule_id, row.event_id) in existing:
            summary.already += 1
            continue
        if row.subject_id not in known:
            new_subjects[row.subject_id] = register[row.subject_id]
        rule = rules[row.rule_id]
        verdict = _verdict(rule.spec.kind, row.caps_hit)
        department = department_of(rule)
        proposals.append(t.Proposal(subject_id=row.subject_id, rule_id=row.rule_id, department=department,
                                    event_id=row.event_id, event_date=row.date, verdict=verdict,
                                    amount=row.amount, carrier=row.carrier, status="proposed",
                                    source=str(entitlements)))
        summary.add(department, verdict, row.amount)
    _write(session, actor, new_subjects, proposals)
    summary.subjects_created = len(new_subjects)
    summary.imported = len(proposals)
    return summary


def _verdict(kind: Kind, caps_hit: str) -> str:
    """The rule's kind, except a floor its cap bound, which is a ceiling (engine/calculate.py)."""
    if kind is Kind.FLOOR and caps_hit.strip():
        return Kind.CEILING.value
    return kind.value


def _wanted(rows: list[_Row], rules: dict, summary: ImportSummary) -> list[_Row]:
    """The rows that carry money of this document, once each; the others counted by reason."""
    wanted, seen = [], set()
    for row in rows:
        kind = rules[row.rule_id].spec.kind
        reason = (
            "outside_validity" if not row.in_validity
            else "qualification" if kind is Kind.QUALIFICATION
            else "by_measure" if kind is Kind.BY_MEASURE
            else "no_amount" if row.amount is None
            else "zero_amount" if row.amount == 0
            else "duplicate_in_file" if (row.rule_id, row.event_id) in seen
            else None
        )
        if reason:
            summary.skipped[reason] += 1
            continue
        seen.add((row.rule_id, row.event_id))
        wanted.append(row)
    return wanted


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _known_subjects(session: Session, codes: set[str]) -> dict[str, str]:
    known: dict[str, str] = {}
    for chunk in _chunks(codes):
        known.update(session.execute(select(t.Subject.id, t.Subject.kind).where(t.Subject.id.in_(chunk))).all())
    return known


def _existing(session: Session, rule_ids: set[str]) -> set[tuple[str, str]]:
    existing: set[tuple[str, str]] = set()
    for chunk in _chunks(rule_ids):
        existing.update(session.execute(select(t.Proposal.rule_id, t.Proposal.event_id).where(t.Proposal.rule_id.in_(chunk))).all())
    return existing


def _register(path: Path | None, wanted: set[str]) -> dict[str, tuple[str, str, str | None]]:
    """kind, name and county (Simplified) of the subjects in `wanted`, from the register's subjects file."""
    if not wanted:
        return {}
    if path is None:
        return {}  # each missing subject is then refused by name in _check_subject
    raw = read_table(path)
    _columns(path, raw, ("subject_id", "kind"))
    found: dict[str, tuple[str, str, str | None]] = {}
    for number, data in enumerate(raw, start=2):
        code = normalise_code(str(data.get("subject_id") or ""))
        if code not in wanted:
            continue
        kind = str(data.get("kind") or "").strip()
        name = str(data.get("name") or "").strip() or f"{kind}{code}"
        county = str(data.get("county") or "").strip() or None
        if county is not None:
            problem = county_problem(county)
            if problem:
                raise Refused(422, f"{_where(path, number, 'county')}: {problem}")
            county = county_name(county)
        if len(name) > 200:
            raise Refused(422, f"{_where(path, number, 'name')}: 主体名称超过 200 个字")
        found[code] = (kind, name, county)
    return found


def _check_subject(entitlements: Path, subjects: Path | None, row: _Row, kinds: dict[str, str], allowed: tuple[str, ...]) -> None:
    where = _where(entitlements, row.number, "subject_id")
    kind = kinds.get(row.subject_id)
    if kind is None:
        if subjects is None:
            raise Refused(422, f"{where}: 主体 {row.subject_id} 不在账本中;请用 --subjects 给出登记主体表")
        raise Refused(422, f"{where}: 主体 {row.subject_id} 既不在账本中,也不在主体表 {subjects} 中")
    problem = subject_id_problem(kind, row.subject_id)
    if problem:
        raise Refused(422, f"{where}: {problem}")
    if kind not in allowed:
        raise Refused(422, f"{where}: 规则 {row.rule_id} 不适用于主体类型 {kind}(适用:{'、'.join(allowed)})")


def _write(session: Session, actor: Actor, subjects: dict[str, tuple[str, str, str | None]], proposals: list[t.Proposal]) -> None:
    """Insert the new subjects, then the proposals, each with its audit entry (in this order)."""
    rows = [t.Subject(id=code, kind=kind, name=name, county=county) for code, (kind, name, county) in sorted(subjects.items())]
    session.add_all(rows)
    session.flush()  # subjects first (no ORM relationship orders them): one multi-row INSERT per table
    session.add_all(proposals)
    audit.record_many(session, actor.username, [("subject.import", row) for row in rows] + [("proposal.import", p) for p in proposals])


# --------------------------------------------------------------------------- listing, confirming, dismissing


def visible(actor: Actor, department: str | None) -> str | None:
    """The department whose proposals `actor` may list: a reviewer only its own; leadership and admin any."""
    require(actor, Role.REVIEWER, Role.LEADERSHIP, Role.ADMIN)
    if actor.role is Role.REVIEWER:
        if department and department != actor.department:
            raise Refused(403, f"审核部门只能查看本部门({actor.department})的清单")
        return actor.department
    return department


def list_proposals(
    session: Session, actor: Actor, department: str | None = None, status: str | None = None,
    limit: int = 200, offset: int = 0,
) -> list[t.Proposal]:
    department = visible(actor, department)
    query = select(t.Proposal).order_by(t.Proposal.id).limit(limit).offset(offset)
    if department:
        query = query.where(t.Proposal.department == department)
    if status:
        query = query.where(t.Proposal.status == status)
    return list(session.scalars(query))


@dataclass
class Outcome:
    """A bulk decision: the proposals confirmed (with their award) and those a cap or budget refused."""

    confirmed: list[tuple[int, int]] = field(default_factory=list)  # (proposal id, award id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (proposal id, reason), still proposed
    dismissed: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "confirmed": [{"proposal": p, "award": a} for p, a in self.confirmed],
            "refused": [{"proposal": p, "reason": reason} for p, reason in self.refused],
            "dismissed": self.dismissed,
        }


def _decidable(session: Session, actor: Actor, ids: list[int]) -> list[t.Proposal]:
    """The proposals `ids`, locked, all `proposed` and of the actor's department; else Refused naming one.

    Only the department decides (review.award grants to reviewers of the rule's department alone)."""
    require(actor, Role.REVIEWER)
    if not ids:
        raise Refused(422, "ids: 须列出至少一项建议")
    wanted = sorted(set(ids))
    found: dict[int, t.Proposal] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        query = select(t.Proposal).where(t.Proposal.id.in_(chunk)).order_by(t.Proposal.id).with_for_update()
        found.update((proposal.id, proposal) for proposal in session.scalars(query))
    for proposal_id in wanted:
        proposal = found.get(proposal_id)
        if proposal is None:
            raise Refused(404, f"没有编号为 {proposal_id} 的建议")
        if actor.role is Role.REVIEWER and proposal.department != actor.department:
            raise Refused(403, f"建议 {proposal_id} 属于{proposal.department},不是{actor.department}")
        if proposal.status != "proposed":
            raise Refused(409, f"建议 {proposal_id} 的状态为 {proposal.status},只能处理待确认(proposed)的建议")
    return [found[proposal_id] for proposal_id in wanted]


def _lock_subjects(session: Session, codes: set[str]) -> None:
    """Lock every subject involved, in sorted order, before any budget row or the audit head (database.py)."""
    for chunk in _chunks(codes):
        session.execute(select(t.Subject.id).where(t.Subject.id.in_(chunk)).order_by(t.Subject.id).with_for_update()).all()


def confirm_proposals(session: Session, pack: Pack, actor: Actor, ids: list[int], today: dt.date) -> Outcome:
    """Each proposal becomes an award (review.award: caps, budget, 公示); one a cap or a budget
    refuses stays `proposed` and is listed with the reason. One transaction (the caller's)."""
    from zhida.ledger import review  # the lead's module: caps, budgets and 公示 live there

    proposals = _decidable(session, actor, ids)
    _lock_subjects(session, {proposal.subject_id for proposal in proposals})
    outcome = Outcome()
    for proposal in proposals:
        try:
            with session.begin_nested():  # a refused award leaves nothing behind
                award = review.award(
                    session, pack, actor,
                    subject_id=proposal.subject_id, rule_id=proposal.rule_id, year=proposal.event_date.year,
                    carrier=proposal.carrier, verdict=proposal.verdict,
                    ceiling=proposal.amount,
                    amount=proposal.amount, trace=_trace(proposal), proposal_id=proposal.id, today=today,
                )
        except Refused as error:
            if error.status != 409:
                raise
            outcome.refused.append((proposal.id, error.message))
            continue
        proposal.status = "confirmed"
        audit.record(session, actor.username, "proposal.confirm", proposal)
        outcome.confirmed.append((proposal.id, award.id))
    return outcome


def _trace(proposal: t.Proposal) -> list[str]:
    return [
        f"免申即享:由 zhida match 根据登记数据计算(来源 {proposal.source},事件 {proposal.event_id},"
        f"日期 {proposal.event_date.isoformat()})",
        f"部门确认金额 {proposal.amount} 元({proposal.verdict})",
    ]


def dismiss_proposals(session: Session, actor: Actor, ids: list[int], reason: str) -> Outcome:
    """Proposals the department will not pay (the register was wrong, the subject is not eligible),
    with the reason kept on each."""
    reason = (reason or "").strip()
    if not reason:
        raise Refused(422, "reason: 不予确认须说明理由")
    proposals = _decidable(session, actor, ids)
    outcome = Outcome()
    for proposal in proposals:
        proposal.status = "dismissed"
        proposal.reason = reason
        audit.record(session, actor.username, "proposal.dismiss", proposal)
        outcome.dismissed.append(proposal.id)
    return outcome
