"""`zhida reform REFORM.yaml SUBJECTS EVENTS [-o OUT] [--pack ID] [--fit PARAM --budget AREA|YUAN]
[--engine duckdb|postgres|spark]`: a reform priced over a register beside the baseline, or the
parameter that meets a budget (docs/reforms.md), on the engine where the register lives (the options
of `zhida match --engine`). Registered on `zhida` by cli.py; imports nothing from it.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zhida.cli_packs import fail, open_pack
from zhida.engine.batch import BatchError
from zhida.engine.engines import EngineError, Where, option_problem
from zhida.engine.reform import (
    Budget,
    FitResult,
    FitStep,
    Line,
    ReformSummary,
    cents,
    fit,
    fit_dict,
    parse_budget,
    run_reform,
    summary_dict,
)
from zhida.engine.match import duckdb_failure
from zhida.engine.register import RegisterError
from zhida.rules.pack import PackError
from zhida.rules.reform import Parameter, parse_parameter, read_reform

REFORM_ARGUMENT = typer.Argument(..., help="改革方案(YAML,见 docs/reforms.md)")
SUBJECTS_ARGUMENT = typer.Argument(None, metavar="SUBJECTS", help="主体表(.parquet/.csv/.xlsx);可带 weight、industry_chain、revenue 列")
EVENTS_ARGUMENT = typer.Argument(None, metavar="EVENTS", help="事件表(.parquet/.csv/.xlsx)")
OUT_OPTION = typer.Option(Path("reform-differences.parquet"), "-o", "--output", help="逐主体差异(.parquet 或 .csv)")
PACK_OPTION = typer.Option(None, "--pack", metavar="ID", help="政策包编号;默认取改革方案的 pack:,否则默认政策包")
FIT_OPTION = typer.Option(None, "--fit", metavar="PARAM", help="求解的参数:规则.rate、规则.amount、规则.bound 或 上限.yuan")
BUDGET_OPTION = typer.Option(None, "--budget", metavar="AREA|YUAN", help="领域编号或名称(该领域预算),或金额(如 5000万、1.5亿)")
STEP_OPTION = typer.Option(None, "--step", help="参数精度(默认:比例 0.0001,金额 0.01 元,整数界限 1)")
MEMORY_OPTION = typer.Option("1GB", "--memory-limit", help="DuckDB 内存上限")
JSON_OPTION = typer.Option(False, "--json", help="以 JSON 输出测算结果(金额为精确小数的文字)")
ENGINE_OPTION = typer.Option("duckdb", "--engine", help="在哪里计算:duckdb(本机)、postgres(数据库内)或 spark(集群)")
DATABASE_OPTION = typer.Option(None, "--database", help="postgres:数据库地址(默认取 DATABASE_URL)")
SUBJECTS_TABLE_OPTION = typer.Option(None, "--subjects-table", help="postgres:库中已有的主体表(表 或 模式.表)")
EVENTS_TABLE_OPTION = typer.Option(None, "--events-table", help="postgres:库中已有的事件表(表 或 模式.表)")
MASTER_OPTION = typer.Option(None, "--master", help="spark:集群地址(默认 local[*])")


def _console() -> Console:
    return Console(markup=False, emoji=False, highlight=False)


def money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{cents(Decimal(amount)):,}"


def count(value: Decimal) -> str:
    """A (weighted) count: whole when it is whole."""
    value = Decimal(value)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def reform_command(
    reform_file: Path = REFORM_ARGUMENT,
    subjects: str | None = SUBJECTS_ARGUMENT,
    events: str | None = EVENTS_ARGUMENT,
    output: Path = OUT_OPTION,
    pack_choice: str | None = PACK_OPTION,
    fit_parameter: str | None = FIT_OPTION,
    budget_text: str | None = BUDGET_OPTION,
    step_text: str | None = STEP_OPTION,
    memory_limit: str = MEMORY_OPTION,
    as_json: bool = JSON_OPTION,
    engine: str = ENGINE_OPTION,
    database: str | None = DATABASE_OPTION,
    subjects_table: str | None = SUBJECTS_TABLE_OPTION,
    events_table: str | None = EVENTS_TABLE_OPTION,
    master: str | None = MASTER_OPTION,
) -> None:
    """政策沙盘:改革方案与现行规则在同一名册上各算一遍,比较成本与受益;或求使支出达到预算的参数值。"""
    if (fit_parameter is None) != (budget_text is None):
        fail("--fit 与 --budget 须同时给出")
    where = _where(engine, subjects, events, database, subjects_table, events_table, master)
    pack = open_pack(pack_choice or _written_pack(reform_file))
    console = _console()
    try:
        reform = read_reform(reform_file, pack)
        if reform.pack_id is not None and pack_choice is not None and reform.pack_id != pack.id:
            fail(f"{reform_file}: 改革方案写明 pack: {reform.pack_id},与 --pack {pack_choice} 不一致")
        subjects_at, events_at = _register(where, subjects, events)
        if fit_parameter is None:
            summary = run_reform(reform, subjects_at, events_at, output, memory_limit, where=where)
        else:
            parameter = parse_parameter(fit_parameter, reform.reformed)
            budget = parse_budget(budget_text, reform.reformed)
            step = _step(step_text, parameter)
            table = _fit_table(parameter, budget)
            result, summary = fit(reform, parameter, budget, subjects_at, events_at, output, step, memory_limit,
                                  on_step=lambda found: _add_step(table, found, budget), where=where)
    except (PackError, RegisterError, BatchError, EngineError) as error:
        fail(str(error))
        raise
    except duckdb.Error as error:
        fail(duckdb_failure(error, memory_limit))
        raise
    if as_json:
        data = summary_dict(summary) | ({"fit": fit_dict(result)} if fit_parameter is not None else {})
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_changes(console, reform)
    if fit_parameter is not None:
        console.print(table)
        _print_fit(console, result)
    _print_summary(console, summary)
    console.print(f"逐主体差异 {summary.rows_written} 行已写入 {output}")


def _where(engine: str, subjects: str | None, events: str | None, database: str | None,
           subjects_table: str | None, events_table: str | None, master: str | None) -> Where:
    """`--engine` and its options, refused (exit 2) as `zhida match` refuses them, before any work."""
    problem = option_problem(engine, subjects, events, database, subjects_table, events_table, master,
                             "zhida reform REFORM SUBJECTS EVENTS")
    if problem is not None:
        fail(problem)
    where = Where(engine, database, (subjects_table, events_table) if subjects_table else None, master or "local[*]")
    try:
        where.check()
    except RegisterError as error:
        fail(str(error))
    return where


def _register(where: Where, subjects: str | None, events: str | None) -> tuple[Path | str, Path | str]:
    """The register as the engine reads it: paths, a URI Spark reads itself (hdfs://, s3a:// … kept as
    text), or the named tables' names (`Where.tables`)."""
    if where.tables is not None:
        return where.tables
    assert subjects is not None and events is not None
    if where.engine == "spark" and where.reads_itself(subjects, events):
        return subjects, events
    return Path(subjects), Path(events)


def _written_pack(reform_file: Path) -> str | None:
    """The `pack:` a reform file names, read before the pack is chosen (None if it names none or is unreadable)."""
    import yaml

    try:
        data = yaml.safe_load(reform_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = data.get("pack") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _step(text: str | None, parameter: Parameter) -> Decimal:
    if text is None:
        return parameter.step
    try:
        step = Decimal(text.strip())
    except InvalidOperation:
        step = Decimal(0)
    if not step.is_finite() or step <= 0:
        fail(f"--step {text}: 须为正数,如 0.01")
    return step


def _print_changes(console: Console, reform) -> None:
    console.print(Text.assemble(("改革方案:", "bold"), reform.title))
    for change in reform.changes:
        console.print(f"  第 {change.line} 行 {change.description}")


def _fit_table(parameter: Parameter, budget: Budget) -> Table:
    table = Table(title=Text(f"求解 {parameter.written}:{budget.label} {money(budget.yuan)} 元"), title_justify="left")
    for column in ("步", parameter.written, "支出(元)", "与预算之差(元)"):
        table.add_column(column, justify="right")
    return table


def _add_step(table: Table, found: FitStep, budget: Budget) -> None:
    table.add_row(str(table.row_count + 1), format(found.value, "f"), money(found.spend), money(found.gap(budget)))


def _print_fit(console: Console, result: FitResult) -> None:
    console.print(f"比较的规则:{'、'.join(result.rules)}")
    console.print(f"{result.message}")
    if result.value is not None:
        console.print(Text.assemble(
            ("结果:", "bold"),
            f"{result.parameter.written} = {format(result.value, 'f')}(现为 {format(result.baseline_value, 'f')}),"
            f"支出 {money(result.spend)} 元",
        ))
    if result.value is not None and result.other is not None:
        console.print(f"  再进一步:{format(result.other.value, 'f')} 时支出 {money(result.other.spend)} 元")
    console.print("以下为参数取该值时的改革测算。" if result.value is not None else "以下为参数取改革方案所写之值时的测算。")


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for position, header in enumerate(headers):
        table.add_column(header, justify="left" if position == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


COMPARISON = ("现行笔数", "现行金额(元)", "改革后笔数", "改革后金额(元)", "变化(元)")


def _line_cells(line: Line) -> list[str]:
    return [count(line.base_count), money(line.base_amount), count(line.new_count), money(line.new_amount), money(line.change)]


def _print_summary(console: Console, summary: ReformSummary) -> None:
    weighted = "(加权)" if summary.weighted else ""
    changed = [line for line in summary.by_rule if line.change != 0 or line.base_count != line.new_count]
    console.print(_table(f"按规则{weighted}(仅列有变化的规则;税收优惠为减免税额)", ("规则", "政策", "条", "类别", *COMPARISON),
                         [[*(str(k) for k in line.key), *_line_cells(line)] for line in changed]))
    console.print(_table(f"按领域{weighted}(财政支出,不含税收优惠)",
                         ("领域", "牵头部门", "预算(元)", *COMPARISON, "现行占预算", "改革后占预算", "变化占预算"),
                         [[str(area.number), area.department, money(area.budget), *_line_cells(area.line),
                           *(f"{area.share(amount)}%" if area.budget else "—"
                             for amount in (area.line.base_amount, area.line.new_amount, area.line.change))]
                          for area in summary.by_area]))
    for title, lines in (("按部门", summary.by_department), ("按区县", summary.by_county)):
        console.print(_table(f"{title}{weighted}", (title[1:], *COMPARISON), [[str(line.key[0]), *_line_cells(line)] for line in lines]))
    if summary.by_chain is None:
        console.print("按产业链:未提供(主体表无 industry_chain 列)")
    else:
        console.print(_table(f"按产业链{weighted}", ("产业链", *COMPARISON), [[str(line.key[0]), *_line_cells(line)] for line in summary.by_chain]))
    if summary.by_size_band is None:
        console.print("按规模(营收十分位):未提供(主体表无 revenue 列)")
    else:
        rows = [[("未分档(非企业或无营收)" if line.key[0] is None else f"第 {line.key[0]} 档 {money(line.key[1])}–{money(line.key[2])}"),
                 *_line_cells(line)] for line in summary.by_size_band]
        console.print(_table(f"按规模(企业营收十分位){weighted}", ("规模档", *COMPARISON), rows))
    spend = summary.spend
    console.print(Text.assemble(("财政支出合计:", "bold"), f"现行 {money(spend.base_amount)} 元,改革后 {money(spend.new_amount)} 元,"
                                f"变化 {money(spend.change)} 元"))
    if summary.stated_total:
        share = (spend.change / summary.stated_total * 100).quantize(Decimal("0.0001"))
        console.print(f"文件所列支持总额 {money(summary.stated_total)} 元:改革后支出占 "
                      f"{(spend.new_amount / summary.stated_total * 100).quantize(Decimal('0.01'))}%,变化占 {share}%")
    rows = []
    for name, side in (("受益(增加)", summary.gainers), ("受损(减少)", summary.losers)):
        rows.append([name, count(side.count), money(side.amount), money(side.smallest),
                     *(money(value) for value in side.quantiles.values()), money(side.largest)])
    console.print(_table(f"谁受益、谁受损{weighted}(每个主体的财政支出变化,元)",
                         ("", "主体数", "变化合计", "最小", *summary.gainers.quantiles, "最大"), rows))
    console.print(f"未变化的主体 {count(summary.unchanged)} 个(名册共 {count(summary.subjects)} 个)")
    for note in summary.notes:
        console.print(f"说明:{note}")


def register(app: typer.Typer) -> None:
    app.command("reform")(reform_command)
