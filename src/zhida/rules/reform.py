"""A reform (政策沙盘): a small YAML file of changes over a loaded pack, checked like a pack.

    reform: 创新券补助比例提高至60%          a title (Simplified)
    pack: huzhou-2025                        optional: the pack it is written for
    changes:
      - set: {rule: innovation-voucher, rate: 0.6}               the one rate of its amount
      - set: {rule: innovation-voucher, amount: 0.6 * service_fee}  or the amount as an expression
      - set: {rule: digital-products, when: price <= 8000}       the condition (a bound)
      - set: {rule: digital-products, bound: 8000}               or the one number it compares with
      - set: {rule: innovation-voucher, caps: []}                the caps a rule carries
      - set: {cap: innovation-voucher-annual, yuan: 300000}      a cap's ceiling, for every rule carrying it
      - scale: {rules: [rd-institution-four-star, rd-institution-five-star], by: 1.2}   a tier
      - remove: {rule: trade-in-fuel}
      - add: {id: …, title: …, article: 2, clause: …, subject: […], event: …, kind: …, amount: …}

Goes in: the YAML text and the Pack it changes. Comes out: a `Reform` holding the baseline pack,
the reformed pack and the rules whose amounts may differ (`touched`), which is all the batch
(`zhida.engine.reform`) needs to price it.

Every changed or added rule goes through `zhida.rules.pack.load_rule_spec`, the loader of a pack:
the same expression whitelist, the same field, subject and cap checks, and its clause must still
be found in the document. A changed rule keeps quoting the clause it amends. An added rule quotes a
clause of the document, or is a proposal (`proposal: true`): then `clause` holds the proposal's own
words, which are not in the document, and its `article` (which must exist) places it in an area.

A reform that names a rule or cap the pack does not have, a key no change knows, or a value the
loader refuses, is refused whole with one `ReformError` naming the file, the YAML line and the
reason, in Chinese. County-layer rules (an overlay's) cannot be changed yet: refused the same way.

The fit (`--fit PARAM`) names one number of the reformed pack: `RULE.rate`, `RULE.amount` (a
constant amount), `RULE.bound` (the one number its condition compares with) or `CAP.yuan`.
`parameter_value` reads it and `with_parameter` returns the pack with it set, through the same
changes and checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from sqlglot import exp

from zhida.rules.expressions import ExpressionError
from zhida.rules.model import WITHOUT_AMOUNT, CapScope, FieldType, Layer, Rule, RuleSpec
from zhida.rules.pack import Pack, PackError, load_rule_spec

ACTIONS = ("set", "add", "remove", "scale")
RULE_SETTINGS = ("amount", "when", "rate", "bound", "caps")
COMPARISONS = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ)
PARAMETERS = {"rate": "比例", "amount": "金额", "bound": "界限", "yuan": "上限金额"}
PROPOSAL_NOTE = "改革提案,非现行政策条文"


class ReformError(PackError):
    """A reform that cannot be applied; the message names the file, the line and the reason."""


@dataclass(frozen=True)
class Change:
    """One change as applied: what it names, on which line, and what it did (Simplified)."""

    action: str  # set / add / remove / scale
    line: int
    target: str  # a rule or cap id
    description: str


@dataclass(frozen=True)
class Reform:
    title: str
    path: Path | None
    pack_id: str | None  # `pack:` as written, if any
    baseline: Pack
    reformed: Pack
    changes: tuple[Change, ...]
    touched: frozenset[str]  # rule ids whose amounts may differ: changed, added, removed, or carrying a changed cap
    proposals: frozenset[str] = frozenset()  # added rules that quote no clause of the document


# ---------------------------------------------------------------- reading


def read_reform(path: Path, pack: Pack) -> Reform:
    """The reform in `path` applied to `pack`, or ReformError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReformError(f"{path}: 无法读取:{error}") from None
    return apply_reform(text, pack, path)


def apply_reform(text: str, pack: Pack, path: Path | None = None) -> Reform:
    """The reform written in `text` applied to `pack`, change after change, each checked as it goes."""
    name = str(path) if path is not None else "(改革方案)"
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ReformError(f"{name}: 无法读取 YAML:{error}") from None
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise ReformError(f"{name}: 须为键值表(reform、pack、changes)")
    lines = _key_lines(root)
    unknown = sorted(set(data) - {"reform", "pack", "changes"})
    if unknown:
        raise ReformError(f"{name}: 第 {lines[unknown[0]]} 行:未知的键 {unknown[0]};可用:reform、pack、changes")
    title = data.get("reform")
    if not isinstance(title, str) or not title.strip():
        raise ReformError(f"{name}: 第 {lines.get('reform', 1)} 行:须以 reform: 写明改革方案的名称")
    pack_id = data.get("pack")
    if pack_id is not None and not isinstance(pack_id, str):
        raise ReformError(f"{name}: 第 {lines['pack']} 行:pack 须为政策包编号")
    changes = data.get("changes")
    if not isinstance(changes, list) or not changes:
        raise ReformError(f"{name}: 第 {lines.get('changes', 1)} 行:changes 须为非空列表")
    nodes = _value_node(root, "changes").value
    state = _State(pack, name)
    for item, node in zip(changes, nodes, strict=True):
        state.apply(item, node)
    return Reform(
        title=title.strip(), path=path, pack_id=pack_id, baseline=pack, reformed=state.pack(),
        changes=tuple(state.changes), touched=frozenset(state.touched), proposals=frozenset(state.proposals),
    )


def _key_lines(node: yaml.MappingNode) -> dict[str, int]:
    return {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)}


def _value_node(node: yaml.MappingNode, key: str) -> yaml.Node:
    return next(value for k, value in node.value if isinstance(k, yaml.ScalarNode) and k.value == key)


class _State:
    """The pack as changed so far: its rules in order, and what each change did."""

    def __init__(self, pack: Pack, name: str) -> None:
        self.base = pack
        self.name = name
        self.rules: list[Rule] = list(pack.rules)
        self.changes: list[Change] = []
        self.touched: set[str] = set()
        self.proposals: set[str] = set()

    def pack(self) -> Pack:
        return dataclasses.replace(self.base, rules=tuple(self.rules))

    def fail(self, line: int, reason: str) -> ReformError:
        return ReformError(f"{self.name}: 第 {line} 行:{reason}")

    def apply(self, item: object, node: yaml.Node) -> None:
        line = node.start_mark.line + 1
        if not isinstance(item, dict) or len(item) != 1 or not isinstance(node, yaml.MappingNode):
            raise self.fail(line, f"每项改动须为 {'、'.join(ACTIONS)} 之一,如 - set: {{rule: …, amount: …}}")
        action, body = next(iter(item.items()))
        if action not in ACTIONS:
            raise self.fail(line, f"未知的改动 {action!r};可用:{'、'.join(ACTIONS)}")
        body_node = node.value[0][1]
        if not isinstance(body, dict) or not isinstance(body_node, yaml.MappingNode):
            raise self.fail(line, f"{action} 后须为键值表")
        lines = _key_lines(body_node)
        try:
            getattr(self, f"_{action}")(body, lines, body_node.start_mark.line + 1)
        except ReformError:
            raise
        except PackError as error:  # the pack loader's own message, which names the line given it
            raise ReformError(str(error)) from None

    # -- the four changes

    def _set(self, body: dict, lines: dict[str, int], line: int) -> None:
        if ("rule" in body) == ("cap" in body):
            raise self.fail(line, "set 须写明 rule(规则)或 cap(上限)之一")
        if "cap" in body:
            self._set_cap(body, lines, line)
            return
        rule = self._rule(body["rule"], lines.get("rule", line))
        unknown = sorted(set(body) - {"rule", *RULE_SETTINGS})
        if unknown:
            raise self.fail(lines[unknown[0]], f"规则不能设置 {unknown[0]};可设置:{'、'.join(RULE_SETTINGS)}")
        settings = [key for key in RULE_SETTINGS if key in body]
        if not settings:
            raise self.fail(line, f"set 须写明要改的项:{'、'.join(RULE_SETTINGS)}")
        spec, described = rule.spec, []
        for key in settings:
            at = lines[key]
            before = spec
            spec = self._setting(rule, spec, key, body[key], at)
            described.append(_describe_setting(key, before, spec))
        self._replace(rule, spec, lines.get("rule", line))
        self.changes.append(Change("set", line, rule.id, f"{rule.id}:" + ";".join(described)))

    def _setting(self, rule: Rule, spec: RuleSpec, key: str, value: object, line: int) -> RuleSpec:
        if key == "caps":
            if not isinstance(value, list) or not all(isinstance(cap, str) for cap in value):
                raise self.fail(line, "caps 须为上限编号的列表")
            known = self._caps()
            for cap in value:
                if cap not in known:
                    raise self.fail(line, f"没有编号为 {cap} 的上限;现有:{'、'.join(sorted(known))}")
            return spec.model_copy(update={"caps": tuple(value)})
        if key in ("amount", "rate") and spec.kind in WITHOUT_AMOUNT:
            raise self.fail(line, f"规则 {rule.id} 是 {spec.kind.value} 类,没有金额可改")
        if key == "amount":
            return spec.model_copy(update={"amount": _expression_text(value, self.fail(line, "amount 须为金额表达式"))})
        if key == "when":
            return spec.model_copy(update={"when": _expression_text(value, self.fail(line, "when 须为条件表达式"))})
        number = _number(value, self.fail(line, f"{key} 须为数值"))
        if key == "rate":
            return spec.model_copy(update={"amount": _replace_rate(spec, number, self.fail, line)})
        return spec.model_copy(update={"when": _replace_bound(spec, number, self.fail, line)})

    def _set_cap(self, body: dict, lines: dict[str, int], line: int) -> None:
        cap_id = body["cap"]
        caps = self._caps()
        if cap_id not in caps:
            raise self.fail(lines.get("cap", line), f"没有编号为 {cap_id} 的上限;现有:{'、'.join(sorted(caps))}")
        unknown = sorted(set(body) - {"cap", "yuan"})
        if unknown:
            raise self.fail(lines[unknown[0]], f"上限只能设置 yuan(金额),不能设置 {unknown[0]}")
        if "yuan" not in body:
            raise self.fail(line, "set cap 须写明 yuan(新的上限金额,元)")
        yuan = _number(body["yuan"], self.fail(lines["yuan"], "yuan 须为金额(元)"))
        if yuan <= 0 or yuan != yuan.quantize(Decimal("0.01")):
            raise self.fail(lines["yuan"], f"yuan 须为大于 0、至多两位小数的金额,收到 {body['yuan']}")
        old = caps[cap_id]
        new = old.model_copy(update={"yuan": yuan})
        for position, rule in enumerate(self.rules):
            if any(cap.id == cap_id for cap in rule.caps):
                self.rules[position] = rule.model_copy(
                    update={"caps": tuple(new if cap.id == cap_id else cap for cap in rule.caps)}
                )
                self.touched.add(rule.id)
        self.changes.append(Change("set", line, cap_id, f"上限 {cap_id}:{old.yuan} 元 → {yuan} 元"))

    def _remove(self, body: dict, lines: dict[str, int], line: int) -> None:
        if set(body) != {"rule"}:
            raise self.fail(line, "remove 只写 rule(要删去的规则编号)")
        rule = self._rule(body["rule"], lines["rule"])
        raised_by = [other.id for other in self.rules if other.spec.tops_up == rule.id]
        if raised_by:
            raise self.fail(lines["rule"], f"规则 {rule.id} 有区县加码规则 {'、'.join(raised_by)},不能单独删去")
        self.rules.remove(rule)
        self.touched.add(rule.id)
        self.changes.append(Change("remove", line, rule.id, f"删去规则 {rule.id}({rule.spec.title})"))

    def _add(self, body: dict, lines: dict[str, int], line: int) -> None:
        data = dict(body)
        proposal = data.pop("proposal", False)
        if not isinstance(proposal, bool):
            raise self.fail(lines["proposal"], "proposal 须为 true 或 false")
        rule_id = data.get("id")
        if any(rule.id == rule_id for rule in self.rules) or any(rule.id == rule_id for rule in self.base.rules):
            raise self.fail(lines.get("id", line), f"规则编号 {rule_id} 已存在;新增规则须另起编号")
        where = f"{self.name}: 第 {line} 行"
        if not proposal:
            rule = load_rule_spec(self.pack(), data, where)
        else:
            rule = self._proposal(data, lines, line, where)
            self.proposals.add(rule.id)
        self.rules.append(rule)
        self.touched.add(rule.id)
        how = "提案条文" if proposal else "引用条文"
        self.changes.append(Change("add", line, rule.id, f"新增规则 {rule.id}({rule.spec.title}),{how}:{rule.spec.clause}"))

    def _proposal(self, data: dict, lines: dict[str, int], line: int, where: str) -> Rule:
        """A rule whose clause is the proposal's own words: checked against its article's text instead."""
        clause = data.get("clause")
        if not isinstance(clause, str) or not clause.strip():
            raise self.fail(lines.get("clause", line), "提案规则须在 clause 写明提案条文")
        article_number = data.get("article")
        try:
            article = self.base.document.article(article_number)
        except (KeyError, TypeError):
            raise self.fail(lines.get("article", line), f"文件中没有第 {article_number} 条") from None
        checked = {**data, "clause": article.text, "assumption": data.get("assumption") or PROPOSAL_NOTE}
        rule = load_rule_spec(self.pack(), checked, where)
        return rule.model_copy(update={"spec": rule.spec.model_copy(update={"clause": clause}), "quoted": ""})

    def _scale(self, body: dict, lines: dict[str, int], line: int) -> None:
        unknown = sorted(set(body) - {"rule", "rules", "by"})
        if unknown or ("rule" in body) == ("rules" in body) or "by" not in body:
            raise self.fail(line, "scale 须写明 rule(或 rules 列表)和 by(倍数),如 {rules: [a, b], by: 1.2}")
        by = _number(body["by"], self.fail(lines["by"], "by 须为倍数"))
        if by < 0:
            raise self.fail(lines["by"], f"by 须为非负的倍数,收到 {body['by']}")
        names = [body["rule"]] if "rule" in body else body["rules"]
        at = lines.get("rule", lines.get("rules", line))
        if not isinstance(names, list) or not names:
            raise self.fail(at, "rules 须为规则编号的列表")
        for rule_id in names:
            rule = self._rule(rule_id, at)
            if rule.spec.amount is None:
                raise self.fail(at, f"规则 {rule.id} 是 {rule.spec.kind.value} 类,没有金额可按倍数调整")
            amount = f"{_plain(by)} * ({rule.spec.amount})"
            self._replace(rule, rule.spec.model_copy(update={"amount": amount}), at)
        self.changes.append(Change("scale", line, "、".join(names), f"{'、'.join(names)} 金额 × {_plain(by)}"))

    # -- helpers

    def _rule(self, rule_id: object, line: int) -> Rule:
        rule = next((rule for rule in self.rules if rule.id == rule_id), None)
        if rule is None:
            gone = any(rule.id == rule_id for rule in self.base.rules)
            why = "已被本方案前面的改动删去" if gone else f"政策包 {self.base.id} 中没有这条规则"
            raise self.fail(line, f"规则 {rule_id}:{why}")
        if rule.layer is not Layer.BASE:
            raise self.fail(line, f"规则 {rule_id} 属于区县承接方案;改革暂只支持基础政策的规则")
        return rule

    def _caps(self) -> dict:
        return {cap.id: cap for rule in (*self.base.rules, *self.rules) for cap in rule.caps} | {
            cap.id: cap for rule in self.rules for cap in rule.caps
        }

    def _replace(self, rule: Rule, spec: RuleSpec, line: int) -> None:
        """The rule with `spec`, loaded as a pack loads it; its caps as changed so far."""
        current = self._caps()
        loaded = load_rule_spec(self.pack(), spec, f"{self.name}: 第 {line} 行")
        loaded = loaded.model_copy(update={"caps": tuple(current[cap.id] for cap in loaded.caps)})
        self.rules[self.rules.index(rule)] = loaded
        self.touched.add(rule.id)


def _describe_setting(key: str, before: RuleSpec, after: RuleSpec) -> str:
    if key == "caps":
        return f"上限 [{'、'.join(before.caps)}] → [{'、'.join(after.caps)}]"
    if key in ("amount", "rate"):
        return f"金额 {before.amount} → {after.amount}"
    return f"条件 {before.when} → {after.when}"


def _expression_text(value: object, error: ReformError) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise error
    if isinstance(value, float):
        return repr(value)  # YAML's 0.6 read as a float: its shortest text is what was written
    return str(value)


def _number(value: object, error: ReformError) -> Decimal:
    """A number as written in YAML (0.6 is read as a float: its shortest repr is the text written)."""
    if isinstance(value, bool):
        raise error
    text = repr(value) if isinstance(value, float) else str(value).strip() if isinstance(value, str | int) else None
    try:
        number = Decimal(text) if text is not None else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise error
    return number


def _plain(number: Decimal) -> str:
    """A Decimal as an expression literal: digits and a point, never an exponent."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _tree(text: str) -> exp.Expression:
    import sqlglot

    return sqlglot.parse_one(text, read="duckdb")


def _rate_literals(tree: exp.Expression) -> list[exp.Literal]:
    """Number literals that multiply something: the rates of an amount (0.5 * service_fee)."""
    found = []
    for node in tree.walk():
        if isinstance(node, exp.Mul):
            found += [side for side in (node.this, node.expression) if isinstance(side, exp.Literal) and not side.is_string]
    return found


def _bound_literals(tree: exp.Expression) -> list[exp.Literal]:
    """Number literals a comparison compares with: the bounds of a condition (price <= 6000)."""
    found = []
    for node in tree.walk():
        if isinstance(node, COMPARISONS):
            found += [side for side in (node.this, node.expression) if isinstance(side, exp.Literal) and not side.is_string]
    return found


def _replace_rate(spec: RuleSpec, rate: Decimal, fail, line: int) -> str:
    def refuse(count: int) -> ReformError:
        return fail(line, f"规则 {spec.id} 的金额 {spec.amount} 中有 {count} 个比例,rate 只能改唯一的比例;请用 amount 写出新金额")

    return _replace_only_literal(spec.amount, _rate_literals, rate, refuse)


def _replace_bound(spec: RuleSpec, bound: Decimal, fail, line: int) -> str:
    def refuse(count: int) -> ReformError:
        return fail(line, f"规则 {spec.id} 的条件 {spec.when} 中有 {count} 个界限,bound 只能改唯一的界限;请用 when 写出新条件")

    return _replace_only_literal(spec.when, _bound_literals, bound, refuse)


def _replace_only_literal(text: str, literals_of, number: Decimal, refuse) -> str:
    """Put `number` in place of the one literal `literals_of` finds; several would be a guess."""
    tree = _tree(text)
    literals = literals_of(tree)
    if len(literals) != 1:
        raise refuse(len(literals))
    literals[0].replace(exp.Literal.number(_plain(number)))
    return tree.sql(dialect="duckdb")


# ---------------------------------------------------------------- the fitted parameter


@dataclass(frozen=True)
class Parameter:
    """`RULE.rate`, `RULE.amount`, `RULE.bound` or `CAP.yuan`: one number of a pack, for `--fit`."""

    target: str
    attribute: str
    step: Decimal  # the precision the fit stops at: 0.0001 for a rate, 1 分 for money, 1 for an integer bound

    @property
    def written(self) -> str:
        return f"{self.target}.{self.attribute}"


def parse_parameter(text: str, pack: Pack) -> Parameter:
    """The parameter `text` names in `pack`, with its natural step; ReformError says what may be named."""
    target, dot, attribute = text.strip().rpartition(".")
    forms = "规则编号.rate、规则编号.amount、规则编号.bound 或 上限编号.yuan"
    if not dot or attribute not in PARAMETERS:
        raise ReformError(f"--fit {text}: 须为 {forms}")
    if attribute == "yuan":
        if not any(cap.id == target for rule in pack.rules for cap in rule.caps):
            raise ReformError(f"--fit {text}: 没有编号为 {target} 的上限")
        return Parameter(target, attribute, Decimal("0.01"))
    try:
        rule = pack.rule(target)
    except KeyError:
        raise ReformError(f"--fit {text}: 没有编号为 {target} 的规则") from None
    step = Decimal("0.0001") if attribute == "rate" else Decimal("0.01")
    if attribute == "bound":
        literals = _bound_literals(_tree(rule.spec.when))
        if len(literals) == 1:
            compared = _compared_field(literals[0], pack, rule)
            step = Decimal(1) if compared is FieldType.INTEGER else Decimal("0.01")
    parameter = Parameter(target, attribute, step)
    parameter_value(pack, parameter)  # refuses a rule without that number
    return parameter


def _compared_field(literal: exp.Literal, pack: Pack, rule: Rule) -> FieldType | None:
    comparison = literal.parent
    other = comparison.expression if comparison.this is literal else comparison.this
    columns = list(other.find_all(exp.Column)) if other is not None else []
    event = pack.events[rule.spec.event]
    types = {event.field(column.name).type for column in columns if event.field(column.name) is not None}
    return types.pop() if len(types) == 1 else None


def parameter_value(pack: Pack, parameter: Parameter) -> Decimal:
    """The parameter's value in `pack`."""
    where = f"--fit {parameter.written}"
    if parameter.attribute == "yuan":
        return next(cap.yuan for rule in pack.rules for cap in rule.caps if cap.id == parameter.target)
    spec = pack.rule(parameter.target).spec
    if spec.kind in WITHOUT_AMOUNT and parameter.attribute != "bound":
        raise ReformError(f"{where}: 规则 {spec.id} 是 {spec.kind.value} 类,没有金额")
    if parameter.attribute == "amount":
        try:
            return Decimal(spec.amount)
        except (InvalidOperation, TypeError):
            raise ReformError(f"{where}: 规则 {spec.id} 的金额 {spec.amount} 不是一个常数;请用 .rate 或在改革方案中写出") from None
    literals = (_rate_literals if parameter.attribute == "rate" else _bound_literals)(
        _tree(spec.amount if parameter.attribute == "rate" else spec.when)
    )
    if len(literals) != 1:
        what = f"金额 {spec.amount} 中有 {len(literals)} 个比例" if parameter.attribute == "rate" else f"条件 {spec.when} 中有 {len(literals)} 个界限"
        raise ReformError(f"{where}: 规则 {spec.id} 的{what},须恰有一个")
    return Decimal(literals[0].this)


def with_parameter(pack: Pack, parameter: Parameter, value: Decimal) -> Pack:
    """`pack` with the parameter set to `value`, checked as a reform's change is."""
    if parameter.attribute == "yuan":
        change = {"set": {"cap": parameter.target, "yuan": str(value)}}
    elif parameter.attribute == "amount":
        change = {"set": {"rule": parameter.target, "amount": _plain(value)}}
    else:
        change = {"set": {"rule": parameter.target, parameter.attribute: str(value)}}
    text = yaml.safe_dump({"reform": "fit", "changes": [change]}, allow_unicode=True)
    try:
        return apply_reform(text, pack, Path(f"--fit {parameter.written}={value}")).reformed
    except ExpressionError as error:
        raise ReformError(str(error)) from None


def parameter_rules(pack: Pack, parameter: Parameter) -> frozenset[str]:
    """The rules the parameter changes: the rule, or every rule carrying the cap."""
    if parameter.attribute == "yuan":
        return frozenset(rule.id for rule in pack.rules if any(cap.id == parameter.target for cap in rule.caps))
    return frozenset({parameter.target})


def linked_rules(rules: tuple[Rule, ...] | list[Rule], start: set[str] | frozenset[str]) -> frozenset[str]:
    """`start` and every rule tied to it through a shared annual cap or a top-up, transitively.

    The batch's cap windows only mix claims of rules that share a cap, so running these rules
    alone gives each of them exactly the amounts the whole pack gives."""
    found = set(start)
    while True:
        caps = {cap.id for rule in rules if rule.id in found for cap in rule.caps if cap.per is not CapScope.ITEM}
        more = {
            rule.id for rule in rules
            if rule.id not in found and (
                any(cap.id in caps for cap in rule.caps if cap.per is not CapScope.ITEM)
                or rule.spec.tops_up in found
                or any(other.spec.tops_up == rule.id for other in rules if other.id in found)
            )
        }
        if not more:
            return frozenset(found)
        found |= more
