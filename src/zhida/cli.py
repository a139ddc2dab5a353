"""The `zhida` command: one obvious thing per command.

    zhida parse FILE [--json] [--simplified]   the structure of a policy document
    zhida packs                                the policy packs found, and which one is the default
    zhida demo                                 a pack's document (the default: Huzhou 2025), parsed and summarised
    zhida calc CASE [--json] [--traditional]   what a subject is entitled to, with the reasoning
                                               (--pack more than once: under several documents)
    zhida events                               the event types a case may hold, and the rules reading them
    zhida check [--amounts-only]               load the rule pack and check it covers every amount and grant
    zhida serve                                the web calculator and API on 127.0.0.1:8000
    zhida synth -o DIR                         a synthetic Huzhou register (subjects, events)
    zhida match SUBJECTS EVENTS -o OUT         免申即享: every rule over a whole register (--pack repeatable)
                                               (--engine duckdb|postgres|spark: where the register lives)
    zhida draft DOCUMENT -o FOLDER             a pack skeleton from a document, TODO where undecided
    zhida reform REFORM SUBJECTS EVENTS        政策沙盘: a reform priced over a register (--fit PARAM --budget X)

Every command reading a pack takes `--pack ID` (cli_packs): an id from `zhida packs` or a folder.
"""

from __future__ import annotations

import bisect
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from zhida.cli_packs import PACK_OPTION, choose, open_pack, packs
from zhida.engine.calculate import calculate
from zhida.engine.several import calculate_several
from zhida.engine.case import CaseError, load_case, read_case_file
from zhida.engine.evaluate import EvaluationError
from zhida.engine.money_text import amount_text
from zhida.engine.output import result_to_dict, several_to_dict
from zhida.rules.coverage import BenefitSentence, SentenceCoverage, coverage, sentence_coverage
from zhida.rules.pack import Pack, PackError
from zhida.source import Amount, Article, Document, DocumentError, Indicator, Rate, parse_file
from zhida.source.export import document_to_dict
from zhida.source.numerals import format_value
from zhida.source.script import display, to_simplified, to_traditional

app = typer.Typer(add_completion=False, no_args_is_help=True, help="政策直达: 把政策文件变成可执行的系统")

# How `zhida match` states each kind's total: never one sum across kinds (DESIGN.md).
KIND_TOTAL_WORDS = {"ceiling": "最高可得合计", "floor": "保底合计", "exact": "定额合计", "tax": "节税合计"}
KIND_COUNT_WORDS = {"by_measure": "金额按相关政策执行", "qualification": "资格"}
QUALIFIER_WORDS = {
    "ceiling": "最高",
    "at_least": "不低于",
    "at_most": "不超过",
    "about": "约",
    "over": "超过",
    "exact": "",
}


def _console(stderr: bool = False) -> Console:
    """A console that prints strings as they are: names from a case, a register or a document may
    hold `[/]` or `:x:`, which Rich would otherwise read as markup or an emoji code. Styles come
    only from `Text` objects built here."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=stderr)


def _styled(*parts: str | tuple[str, str]) -> Text:
    """Plain text with styled pieces: ("警告:", "bold yellow"), then words printed verbatim."""
    return Text.assemble(*parts)


def _cells(*values: object) -> list[Text]:
    """Table cells as Text: Table.add_row would read a str cell as markup."""
    return [value if isinstance(value, Text) else Text(str(value)) for value in values]


def _fail(message: str) -> None:
    _console(stderr=True).print(_styled(("错误:", "bold red"), " ", message))
    raise typer.Exit(code=2)


def _load(path: Path) -> Document:
    try:
        return parse_file(path)
    except DocumentError as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


@app.command()
def parse(
    file: Path = typer.Argument(..., help="政策文件(UTF-8 或 GBK/GB18030 文本)"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON(字段见 docs/parse-json.md)"),
    simplified: bool = typer.Option(False, "--simplified", help="以简体显示原文(偏移量仍指向原文)"),
) -> None:
    """解析政策文件:领域、条目、金额、比例、目标指标、预算。"""
    document = _load(file)
    if as_json:
        typer.echo(json.dumps(document_to_dict(document, simplified), ensure_ascii=False, indent=2))
        return
    console = _console()
    console.print(document_tree(document, simplified))
    _print_totals(console, document)


app.command("packs")(packs)


@app.command()
def demo(pack_choice: str | None = PACK_OPTION) -> None:
    """解析政策包中的政策文件并展示其结构(默认政策包:湖州市 2025 年版)。"""
    document = _load(choose(pack_choice).path / "document.txt")
    console = _console()
    console.print(document_tree(document, simplified=True))
    _print_totals(console, document)
    console.print(
        f"共 {len(document.areas)} 个领域、{len(document.articles)} 条政策、"
        f"{len(document.amounts)} 个金额、{len(document.rates)} 个比例、{len(document.indicators)} 个目标指标。"
    )


@app.command()
def calc(
    case: Path = typer.Argument(..., help="案例文件(.yaml 或 .json),格式见 policies/huzhou-2025/README.md"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
    traditional: bool = typer.Option(False, "--traditional", help="以繁体显示"),
    pack_choices: list[str] | None = typer.Option(
        None, "--pack", metavar="ID",
        help="政策包编号或目录,可重复:同一主体同时适用几份文件(如市级与省级),各自计算并按 stacking 处理重叠",
    ),
) -> None:
    """计算一个主体可享受的政策:金额、依据条文、计算过程。"""
    choices = list(pack_choices or [None])
    if len(choices) > 1:
        _calc_several(case, as_json, traditional, choices)
        return
    pack = open_pack(choices[0])
    try:
        result = calculate(pack, load_case(case, pack))
    except (CaseError, EvaluationError) as error:
        _fail(str(error))
    data = result_to_dict(pack, result, traditional)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console = _console()
    _print_result(console, data, traditional)
    _print_subtotals(console, data, _script(traditional))


def _calc_several(case: Path, as_json: bool, traditional: bool, choices: list[str]) -> None:
    """One case under several packs (engine.several): each pack's entitlements, then the overlaps decided."""
    packs = [open_pack(choice) for choice in choices]
    if len({pack.id for pack in packs}) < len(packs):
        _fail("--pack 重复:同一政策包只能给一次")
    try:
        data, shown = read_case_file(case)
        several = calculate_several(packs, data, shown)
    except (CaseError, EvaluationError, PackError) as error:
        _fail(str(error))
    result = several_to_dict(several, traditional)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    console = _console()
    script = _script(traditional)
    for pack, data in zip(packs, result["packs"]):
        console.rule(Text(f"{pack.id}  {script(to_simplified(pack.document.preamble.title))}"))
        _print_result(console, data, traditional)
    for overlap in result["overlaps"]:
        console.print(_styled((f"{script('重叠')} {overlap['event']}:{overlap['mode_label']}", "bold")))
        console.print(Text(f"  {overlap['reason']}"))
    console.rule(Text(script("各政策包合计")))
    _print_subtotals(console, {
        "entitlements": [item for data in result["packs"] for item in data["entitlements"]],
        "totals": result["totals"],
        "by_measure": sum(data["by_measure"] for data in result["packs"]),
    }, script)


def _script(traditional: bool):
    return to_traditional if traditional else (lambda text: text)


def _print_result(console: Console, data: dict, traditional: bool) -> None:
    """One pack's entitlements as a table, then each one's trace and clause, then the events nothing pays."""
    script = _script(traditional)
    table = Table(title=Text(script(f"{data['subject']['name']} 可享受的政策")), show_lines=True)
    for column in ("事件", "日期", "规则", "条", "金额含义", "金额(元)", "牵头部门"):
        table.add_column(script(column), justify="right" if column == "金额(元)" else "left")
    for item in data["entitlements"]:
        amount = amount_text(Decimal(item["amount"])) if item["amount"] is not None else None
        if item["verdict"] == "by_measure":
            amount = f"{item['verdict_label']}{script(':金额按')}{item['amount_by']}{script('执行')}"
        elif amount is None:
            amount = script(item["result"] or item["verdict_label"])
        table.add_row(*_cells(
            item["event"], item["date"], item["title"], item["article"], item["verdict_label"], amount, item["department"]
        ))
    console.print(table)
    for item in data["entitlements"]:
        console.print(_styled((item["title"], "bold"), f" ({script('第')}{item['article']}{script('条')})"))
        for line in item["trace"]:
            console.print(Text(f"  {line}"))  # a trace quotes the case's text: never markup
        console.print(_styled("  ", (f"{script('条文')}:{item['clause']}", "dim")))
    for item in data["unmatched"]:
        console.print(_styled((f"{script('事件')} {item['event']} {script('无可享受的政策')}:", "yellow")))
        for reason in item["reasons"]:
            console.print(Text(f"  {reason}"))
    for note in data.get("notes", ()):
        console.print(Text(f"{script('说明')}:{note}"))


# The sub-totals of `zhida calc`, one per verdict: ceilings, floors, exact amounts and tax savings never add up.
SUBTOTAL_LABELS = {"ceiling": "最高可得", "floor": "至少", "exact": "应得", "tax": "节税"}


def _print_subtotals(console: Console, data: dict, script) -> None:
    present = {item["verdict"] for item in data["entitlements"]}
    for verdict, label in SUBTOTAL_LABELS.items():
        if verdict in present:
            total = amount_text(Decimal(data["totals"][verdict]))
            console.print(_styled((f"{script(label)} {total} {script('元')}", "bold")))
    if data["by_measure"]:
        console.print(_styled((script(f"另有 {data['by_measure']} 项金额按相关政策执行(不计入上列金额)"), "bold")))
    if not present & SUBTOTAL_LABELS.keys() and not data["by_measure"]:
        console.print(script("无涉及资金的支持"))


@app.command()
def events(pack_choice: str | None = PACK_OPTION) -> None:
    """列出案例可用的事件类型:字段、类型、单位,以及读取它的规则。"""
    pack = open_pack(pack_choice)
    console = _console()
    for event_type in pack.events.values():
        subjects = "、".join(pack.subjects[kind] for kind in event_type.subjects)
        table = Table(title=Text(f"{event_type.name} {event_type.title}(主体:{subjects})"), title_justify="left")
        for column in ("字段", "名称", "类型", "单位", "可选值/下限"):
            table.add_column(column, overflow="fold")
        for event_field in event_type.fields:
            detail = "、".join(event_field.values) or (f">= {event_field.minimum}" if event_field.minimum is not None else "")
            table.add_row(*_cells(event_field.name, event_field.title, event_field.type.value, event_field.unit, detail))
        console.print(table)
        readers = [f"{rule.id}(第{rule.spec.article}条)" for rule in pack.rules_for(event_type.name)]
        console.print(f"  读取它的规则:{'、'.join(readers) or '无'}\n")


@app.command()
def check(
    pack_choice: str | None = PACK_OPTION,
    sentences: bool = typer.Option(
        True, "--sentences/--amounts-only",
        help="逐领域、逐条列出受益句覆盖情况,有未覆盖的受益句即失败(默认);--amounts-only 只检查金额与比例",
    ),
) -> None:
    """检查政策包:条文引用、表达式,受益条款中的每个金额是否都有规则兑现,以及每个受益句是否都有着落。"""
    from zhida.cli_draft import refuse_todos  # a drafted pack's TODOs, before its expressions are parsed

    refuse_todos(pack_choice)
    pack = open_pack(pack_choice)
    console = _console()
    county = pack.county_view()
    if county is not None:
        # An overlay's rules quote the county's text: coverage reads that document with those rules;
        # the city's document is the base pack's to check.
        console.print(
            f"区县承接方案 {pack.id}({pack.county}):检查本方案文本的覆盖;所扩展的 {pack.base_id} 另行检查"
            f"(zhida check --pack {pack.base_id})。"
        )
        pack = county
    report = coverage(pack)
    table = Table(title="受益条款中的金额与比例")
    for column in ("条", "金额/比例", "由谁兑现"):
        table.add_column(column)
    for citation in report.citations:
        covered = Text("、".join(citation.covered_by)) if citation.covered_by else Text("无规则引用", "bold red")
        table.add_row(*_cells(citation.article, display(citation.text, True), covered))
    console.print(table)
    covered_count = len(report.citations) - len(report.missing)
    console.print(
        f"规则 {len(pack.rules)} 条;受益条款中的金额与比例 {len(report.citations)} 个,"
        f"已覆盖 {covered_count} 个({covered_count * 100 // max(len(report.citations), 1)}%)。"
    )
    for citation in report.missing:
        console.print(_styled(
            ("未覆盖:", "bold red"),
            f" 第 {citation.article} 条 {display(citation.text, True)}"
            f"(原文位置 {citation.span.start}–{citation.span.end})",
        ))
    benefit = sentence_coverage(pack)
    if sentences:
        console.print(_sentence_table(pack, benefit))
        for sentence in benefit.sentences:
            for grant in sentence.grants:
                excused = [by.removeprefix("not_benefits: ") for by in grant.covered_by if by.startswith("not_benefits: ")]
                if excused and len(excused) == len(grant.covered_by):
                    console.print(f"不计为待遇({'、'.join(excused)}):第 {sentence.article} 条 {display(grant.text, True)}")
        for sentence in benefit.missing:
            console.print(_styled(("未覆盖的受益句:", "bold red"), f" 第 {sentence.article} 条 {display(sentence.sentence.text, True)}"))
            for grant in sentence.uncovered:
                console.print(f"  尚未覆盖:{display(grant.text, True)}({'、'.join(grant.words)})")
        if not benefit.ok:
            console.print(
                "每个受益句须由规则引用(任何类型,含 by_measure),或由解析出的目标指标覆盖,"
                "或在 rules/N-not-benefits.yaml 的 not_benefits 中写明理由(budget、target、volume、encouragement …)。"
            )
    done = len(benefit.sentences) - len(benefit.missing)
    hint = "" if sentences or benefit.ok else ";逐条情况见 zhida check(不加 --amounts-only)"
    console.print(
        f"受益句 {len(benefit.sentences)} 句,已覆盖 {done} 句"
        f"({done * 100 // max(len(benefit.sentences), 1)}%){hint}。"
    )
    if report.missing or (sentences and not benefit.ok):
        raise typer.Exit(code=1)


def _sentence_table(pack: Pack, benefit: SentenceCoverage) -> Table:
    """Benefit sentences covered, per area (a bold row) and per article under it."""
    table = Table(title="受益句覆盖(按领域、按条)", title_justify="left")
    for column in ("领域/条", "受益句", "已覆盖", "覆盖率"):
        table.add_column(column, justify="left" if column == "领域/条" else "right")
    for area in pack.document.areas:
        in_area = [sentence for sentence in benefit.sentences if sentence.area == area.number]
        if not in_area:
            continue
        table.add_row(*_coverage_row(Text(f"{area.number}. {display(area.title, True)}", "bold"), in_area))
        for article in area.articles:
            in_article = [sentence for sentence in in_area if sentence.article == article.number]
            if in_article:
                table.add_row(*_coverage_row(Text(f"  ({article.number}) {display(article.title, True)}"), in_article))
    return table


def _coverage_row(label: Text, sentences: list[BenefitSentence]) -> list[Text]:
    done = sum(sentence.covered for sentence in sentences)
    share = Text(f"{done * 100 // len(sentences)}%", "" if done == len(sentences) else "bold red")
    return _cells(label, len(sentences), done, share)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="端口"),
    pack_choice: str | None = PACK_OPTION,
    database: str | None = typer.Option(None, "--database", help="账本数据库地址(默认取 DATABASE_URL,否则当前目录的 zhida.db)"),
    no_demo: bool = typer.Option(False, "--no-demo", help="首次启动时不载入演示数据与演示账号"),
) -> None:
    """启动网页计算器、账本与 API(http://127.0.0.1:8000,接口文档在 /docs);账本数据库不存在时创建并迁移。
    同时提供找到的全部政策包(/packs),--pack 所选者为默认政策包,账本属于它。
    首次启动(账本还没有用户)时载入演示数据,并列出演示账号(密码公开,仅用于本机试用)。"""
    from zhida.ledger.database import DatabaseError, database_url
    from zhida.ledger.demo import accounts_text, in_use, seed_demo
    from zhida.rules.library import PackChoiceError
    from zhida.rules.pack import PackError
    from zhida.web.app import create_app, load_packs, open_ledger_state
    from zhida.web.server import run

    choose(pack_choice)  # an unknown --pack: the known ids, before anything loads
    try:
        loaded = load_packs(choice=pack_choice)
    except (PackChoiceError, PackError) as error:
        _fail(str(error))
    pack = loaded.packs[loaded.default]
    try:
        ledger = open_ledger_state(pack, database_url(database))
    except DatabaseError as error:
        _fail(str(error))
    if not no_demo and not in_use(ledger.factory):
        typer.echo("首次启动:正在载入演示数据(数秒)…")
        summary = seed_demo(ledger.factory, pack, ledger.files)
        if summary.seeded:
            typer.echo(accounts_text(summary, f"http://{host}:{port}"))
    run(create_app(pack, ledger, loaded.packs, skipped=loaded.skipped), host=host, port=port)


@app.command()
def synth(
    out: Path = typer.Option(..., "-o", "--out", help="输出目录(写入 subjects.parquet 和 events.parquet)"),
    enterprises: int = typer.Option(10_000, min=1, help="企业数"),
    transactions: int = typer.Option(100_000, min=0, help="消费品以旧换新交易数"),
    seed: int = typer.Option(2025, help="随机种子(相同种子生成相同数据)"),
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """生成湖州的模拟主体库与事件(企业、孵化载体、银行、消费者),可重复。"""
    from zhida.synth import synthesise

    counts = synthesise(open_pack(pack_choice), enterprises, transactions, seed, out)
    _console().print(f"已写入 {out}:主体 {counts['subjects']:,} 个,事件 {counts['events']:,} 条")


@app.command()
def match(
    subjects_path: str | None = typer.Argument(
        None, metavar="SUBJECTS", help="主体表(.parquet、.csv 或 .xlsx):subject_id, kind, county …"),
    events_path: str | None = typer.Argument(
        None, metavar="EVENTS", help="事件表:event_id, subject_id, type, date 及各事件字段"),
    out_path: str = typer.Option(..., "-o", "--out", help="结果文件(.parquet、.csv 或 .xlsx;spark 只写 Parquet)"),
    memory_limit: str = typer.Option("1GB", help="DuckDB 内存上限,超出部分落盘"),
    pack_choices: list[str] | None = typer.Option(
        None, "--pack", metavar="ID",
        help="政策包编号或目录,可重复:主体库同时按几份文件匹配(如市级与省级),同一事件的重叠按 stacking 处理;"
             "默认取唯一的或最新的政策包",
    ),
    engine: str = typer.Option("duckdb", "--engine", help="在哪里计算:duckdb(本机)、postgres(数据库内)或 spark(集群)"),
    database: str | None = typer.Option(None, "--database", help="postgres:数据库地址(默认取 DATABASE_URL)"),
    subjects_table: str | None = typer.Option(None, "--subjects-table", help="postgres:库中已有的主体表(表 或 模式.表)"),
    events_table: str | None = typer.Option(None, "--events-table", help="postgres:库中已有的事件表(表 或 模式.表)"),
    master: str | None = typer.Option(None, "--master", help="spark:集群地址(默认 local[*])"),
) -> None:
    """免申即享:对整个主体库运行全部规则,输出应享清单并按规则、部门、区县汇总。"""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zhida.engine.batch import BatchError
    from zhida.engine.engines import EngineError
    from zhida.engine.match import duckdb_failure, match as run_match
    from zhida.engine.register import RegisterError

    choices = list(pack_choices or [None])
    _check_engine_options(engine, len(choices), subjects_path, events_path, out_path, database,
                          subjects_table, events_table, master)
    subjects, events, out = Path(subjects_path or ""), Path(events_path or ""), Path(out_path)
    if len(choices) > 1:
        _match_several(subjects, events, out, memory_limit, choices)
        return
    pack = open_pack(choices[0])
    console = _console()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("匹配中" if engine == "duckdb" else f"在 {ENGINE_NAMES[engine]} 中匹配", total=100)
            writing: list = []  # the Excel task, added when writing starts (its clock starts then)

            def written(rows: int, total: int) -> None:
                # Excel is written row by row after the query (a million rows take seconds): show it
                if not writing:
                    writing.append(bar.add_task("写入 Excel", total=max(total, 1)))
                bar.update(writing[0], completed=rows, description=f"写入 Excel {rows:,}/{total:,} 行")

            if engine == "duckdb":
                summary = run_match(pack, subjects, events, out, lambda value: bar.update(task, completed=value),
                                    memory_limit, written)
            else:
                summary = _match_elsewhere(pack, engine, subjects_path, events_path, out_path, memory_limit,
                                           (database, subjects_table, events_table, master), written)
    except (RegisterError, BatchError, EngineError) as error:
        _fail(str(error))
    except duckdb.Error as error:
        _fail(duckdb_failure(error, memory_limit))
    table = Table(title="按规则汇总", title_justify="left")
    for column in ("规则", "条", "牵头部门", "笔数", "金额(元)"):
        table.add_column(column, justify="right" if column in ("笔数", "金额(元)") else "left")
    for rule, article, department, count, amount in summary.by_rule:
        table.add_row(*_cells(rule, article, department, f"{count:,}", f"{amount:,.2f}"))
    console.print(table)
    table = Table(title="按领域及牵头部门汇总(占该领域 2025 年财政预算;税收优惠不计入)", title_justify="left")
    for column in ("领域", "牵头部门", "笔数", "金额(元)", "领域预算(元)", "占预算"):
        table.add_column(column, justify="left" if column == "牵头部门" else "right")
    for area, department, count, amount, budget, share in summary.by_area:
        table.add_row(*_cells(area or "", department, f"{count:,}", f"{amount:,.2f}",
                              f"{budget:,.0f}" if budget else "", f"{share}%" if share is not None else ""))
    console.print(table)
    table = Table(title="按区县汇总", title_justify="left")
    for column in ("区县", "笔数", "金额(元)"):
        table.add_column(column, justify="left" if column == "区县" else "right")
    for county, count, amount in summary.by_county:
        table.add_row(*_cells(county, f"{count:,}", f"{amount:,.2f}"))
    console.print(table)
    parts = [f"{KIND_TOTAL_WORDS[kind]} {amount:,.2f} 元" for kind, (_, amount) in summary.by_kind.items() if kind in KIND_TOTAL_WORDS]
    parts += [f"{KIND_COUNT_WORDS[kind]} {count:,} 项" for kind, (count, _) in summary.by_kind.items() if kind in KIND_COUNT_WORDS]
    console.print(f"共 {summary.rows:,} 条应享记录({'；'.join(parts)}),已写入 {out}")


ENGINE_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark"}


def _check_engine_options(
    engine: str, packs: int, subjects: str | None, events: str | None, out: str, database: str | None,
    subjects_table: str | None, events_table: str | None, master: str | None,
) -> None:
    """Refuse, before any work, an engine option that does not go with the others (exit 2)."""
    from zhida.engine.engines import option_problem

    problem = option_problem(engine, subjects, events, database, subjects_table, events_table, master,
                             "zhida match SUBJECTS EVENTS -o OUT")
    if problem is not None:
        _fail(problem)
    if packs > 1 and engine != "duckdb":
        _fail(f"--engine {engine}: 多个 --pack 同时匹配只在 duckdb 上运行;{ENGINE_NAMES[engine]} 请每次给一个 --pack")
    if engine == "spark" and not out.rstrip("/").lower().endswith(".parquet"):
        _fail(f"{out}: --engine spark 只输出 Parquet(如 out.parquet;Spark 写成一个目录);.csv、.xlsx 请用 duckdb 或 postgres")


def _match_elsewhere(pack: Pack, engine: str, subjects: str | None, events: str | None, out: str, memory_limit: str,
                     options: tuple, written):
    """`zhida match --engine postgres|spark` (engine.engines): the same checks and summary as DuckDB's."""
    from zhida.engine.engines import match_postgres, match_spark

    database, subjects_table, events_table, master = options
    if engine == "postgres":
        tables = (subjects_table, events_table) if subjects_table else None
        return match_postgres(pack, Path(out), database, Path(subjects) if subjects else None,
                              Path(events) if events else None, tables, memory_limit, written)
    return match_spark(pack, subjects, events, out, master or "local[*]", memory_limit)


def _match_several(subjects: Path, events: Path, out: Path, memory_limit: str, choices: list[str]) -> None:
    """`zhida match` with several --pack (engine.several_batch): rows naming their pack, overlaps decided."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zhida.engine.batch import BatchError
    from zhida.engine.match import duckdb_failure
    from zhida.engine.register import RegisterError
    from zhida.engine.several_batch import match_several
    from zhida.rules.pack import PackError

    packs = [open_pack(choice) for choice in choices]
    if len({pack.id for pack in packs}) < len(packs):
        _fail("--pack 重复:同一政策包只能给一次")
    console = _console()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("匹配中", total=100)
            tasks: dict[str, object] = {}

            def counted(label: str, unit: str):
                def report(done: int, total: int) -> None:
                    if label not in tasks:
                        tasks[label] = bar.add_task(label, total=max(total, 1))
                    bar.update(tasks[label], completed=done, description=f"{label} {done:,}/{total:,} {unit}")
                return report

            summary = match_several(
                packs, subjects, events, out, lambda value: bar.update(task, completed=value), memory_limit,
                counted("写入 Excel", "行"), counted("重叠主体逐一计算", "个"),
            )
    except (RegisterError, BatchError, PackError) as error:
        _fail(str(error))
    except duckdb.Error as error:
        _fail(duckdb_failure(error, memory_limit))
    _print_several_summary(console, summary, out)


def _print_several_summary(console: Console, summary, out: Path) -> None:
    """The tables of a several-pack match: by paying pack (per kind), rule, area, county, and stacking."""
    from zhida.rules.model import LAYER_NAMES, STACKING_NAMES, Layer, StackingMode

    def table(title: str, columns: tuple[str, ...], rows, right: tuple[str, ...]) -> None:
        shown = Table(title=title, title_justify="left")
        for column in columns:
            shown.add_column(column, justify="right" if column in right else "left")
        for row in rows:
            shown.add_row(*_cells(*row))
        console.print(shown)

    money = ("笔数", "金额(元)", "领域预算(元)", "占预算", "不予兑现笔数")
    kinds = {"ceiling": "最高可得", "floor": "保底", "exact": "定额", "tax": "节税", "by_measure": "按相关政策执行",
             "qualification": "资格"}
    table("按政策包汇总(各类金额分列,不相加)", ("政策包", "层级", "类别", "笔数", "金额(元)"), [
        (pack, LAYER_NAMES[Layer(layer)], kinds.get(kind, kind), f"{count:,}", f"{amount:,.2f}")
        for pack, layer, kind, count, amount in summary.by_pack
    ], money)
    table("按规则汇总", ("政策包", "规则", "条", "牵头部门", "笔数", "金额(元)"), [
        (pack, rule, article, department, f"{count:,}", f"{amount:,.2f}")
        for pack, rule, article, department, count, amount in summary.by_rule
    ], money)
    table("按领域及牵头部门汇总(占该领域 2025 年财政预算;税收优惠不计入)",
          ("政策包", "领域", "牵头部门", "笔数", "金额(元)", "领域预算(元)", "占预算"), [
        (pack, area or "", department, f"{count:,}", f"{amount:,.2f}", f"{budget:,.0f}" if budget else "",
         f"{share}%" if share is not None else "")
        for pack, area, department, count, amount, budget, share in summary.by_area
    ], money)
    table("按区县汇总", ("区县", "笔数", "金额(元)"),
          [(county, f"{count:,}", f"{amount:,.2f}") for county, count, amount in summary.by_county], money)
    names = {mode.value: STACKING_NAMES[mode] for mode in StackingMode} | {"undeclared": "未规定,均予列出"}
    table("同一事件多份文件兑现(重叠)", ("处理", "笔数", "不予兑现笔数"), [
        ("、".join(names.get(mode, mode) for mode in stacking.split("、")), f"{count:,}", f"{dropped:,}")
        for stacking, count, dropped in summary.by_stacking
    ], money)
    parts = [f"{KIND_TOTAL_WORDS[kind]} {amount:,.2f} 元" for kind, (_, amount) in summary.by_kind.items() if kind in KIND_TOTAL_WORDS]
    parts += [f"{KIND_COUNT_WORDS[kind]} {count:,} 项" for kind, (count, _) in summary.by_kind.items() if kind in KIND_COUNT_WORDS]
    console.print(f"重叠的主体 {summary.reevaluated:,} 个已逐一按各文件的 stacking 规定计算")
    console.print(f"共 {summary.rows:,} 条应享记录({'；'.join(parts)}),已写入 {out}")


def yuan(value: Decimal) -> str:
    """17.25億元 for budgets, 20万元 for awards, 500元 for small sums: as a reader writes them."""
    if value >= 100_000_000:
        return f"{format_value(value / 100_000_000)}亿元"
    if value >= 10_000:
        return f"{format_value(value / 10_000)}万元"
    return f"{format_value(value)}元"


def _validity(preamble) -> str:
    """2026-03-01 至 2026-12-31, as dates; 未写明 for what the document does not say, never None."""
    valid_from, valid_to = preamble.valid_from, preamble.valid_to
    if valid_from is None and valid_to is None:
        return "(未写明)"
    if valid_to is None:
        return f"{valid_from.isoformat()} 起(截止日期未写明)"
    if valid_from is None:
        return f"(起始日期未写明)至 {valid_to.isoformat()}"
    return f"{valid_from.isoformat()} 至 {valid_to.isoformat()}"


def document_tree(document: Document, simplified: bool) -> Tree:
    """The document as a tree of areas, articles and what each states.

    Labels are Text, so words from the document print verbatim. Amounts, rates and targets are
    grouped by position once: an area or article number may repeat in a concatenated corpus,
    and scanning every amount for every article would grow with their product.
    """
    def words(text: str | None) -> str:
        return display(text or "", simplified)

    preamble = document.preamble
    issued = preamble.issued.isoformat() if preamble.issued else "(发文日期未写明)"
    root = Tree(_styled(
        (words(preamble.title), "bold"),
        f"  {words(preamble.issuer) or '(发文机关未写明)'} {issued}"
        f"  有效期 {_validity(preamble)}  依据 {words(preamble.implements) or '(未写明)'}",
    ))
    places = _Places(document)
    for area_index, area in enumerate(document.areas):
        budget = f"  预算 {yuan(area.budget)}" if area.budget is not None else ""
        if area.budget is not None and area.budget_article is not None:
            budget += f"(见第({area.budget_article})条)"
        heading = (f"{area.number}. {words(area.title)}", "bold cyan")
        branch = root.add(_styled(heading, f"  牵头 {words(area.department) or '(未写明)'}{budget}"))
        for part in area.budget_parts:
            branch.add(_styled(("预算分项", "blue"), f" {words(part.purpose)} {words(part.written)}"))
        for indicator in places.area_indicators.get(area_index, ()):
            branch.add(_indicator_line(indicator, words))
        for article in area.articles:
            departments = f"  责任单位 {'、'.join(words(name) for name in article.departments)}" if article.departments else ""
            leaf = branch.add(_styled((f"({article.number}) {words(article.title)}", "bold"), departments))
            key = article.span.start
            for amount in places.amounts.get(key, ()):
                if document.is_budget(amount):
                    continue  # shown with its area: 预算 …(见第(N)条) and its 预算分项
                per = f"/{words(amount.per)}" if amount.per else ""
                money = f"{format_value(amount.value)}美元" if amount.currency == "USD" else yuan(amount.value)
                leaf.add(_styled(("金额", "green"), f" {QUALIFIER_WORDS[amount.qualifier.value]}{money}{per}"))
            for rate in places.rates.get(key, ()):
                share = f" {QUALIFIER_WORDS[rate.qualifier.value]}{format_value(rate.value)}%"
                leaf.add(_styled(("比例", "yellow"), share))
            for indicator in places.indicators.get(key, ()):
                leaf.add(_indicator_line(indicator, words))
    return root


class _Places:
    """Amounts, rates and indicators keyed by the start of the article holding them, and
    indicators of an area's goals keyed by the area's index: one bisection per item."""

    def __init__(self, document: Document) -> None:
        articles = [article for area in document.areas for article in area.articles]
        self._articles = articles
        self._starts = [article.span.start for article in articles]
        self._area_starts = [area.span.start for area in document.areas]
        self.amounts: dict[int, list[Amount]] = self._by_article(document.amounts)
        self.rates: dict[int, list[Rate]] = self._by_article(document.rates)
        self.indicators: dict[int, list[Indicator]] = self._by_article(
            [indicator for indicator in document.indicators if indicator.article is not None]
        )
        self.area_indicators: dict[int, list[Indicator]] = {}
        for indicator in document.indicators:
            if indicator.article is None:
                index = bisect.bisect_right(self._area_starts, indicator.span.start) - 1
                self.area_indicators.setdefault(index, []).append(indicator)

    def _article_at(self, offset: int) -> Article | None:
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0 or offset >= self._articles[index].span.end:
            return None
        return self._articles[index]

    def _by_article(self, items) -> dict:
        grouped: dict[int, list] = {}
        for item in items:
            if item.article is not None and (article := self._article_at(item.span.start)) is not None:
                grouped.setdefault(article.span.start, []).append(item)
        return grouped


def _indicator_line(indicator: Indicator, words) -> Text:
    """目标 港口集装箱吞吐量 =90万标箱(900,000标箱) (2026): the value in the unit the text used,
    and the exact normalised value beside it when the two differ."""
    high = f"—{_exact(indicator.value_high)}" if indicator.value_high is not None else ""
    direction = "" if indicator.direction.value == "range" else indicator.direction.value
    exact = f"{_exact(indicator.value)}{high}{words(indicator.unit)}"
    written = words(indicator.written)
    shown = exact if not written or written == exact.replace(",", "") else f"{written}({exact})"
    return _styled(("目标", "magenta"), f" {words(indicator.name)} {direction}{shown} ({indicator.year})")


def _exact(value) -> str:
    """An exact value with thousands separators: 5,000,000,000; 6.5; 1/3."""
    text = format_value(value)
    if "/" in text:
        return text
    whole, dot, fraction = text.partition(".")
    return f"{int(whole):,}{dot}{fraction}"


def _print_totals(console: Console, document: Document) -> None:
    budgets = [area.budget for area in document.areas if area.budget is not None]
    if budgets:
        stated = f",文末支持总额 {yuan(document.stated_total)}" if document.stated_total is not None else ""
        if stated and document.total_excludes_overlap:
            stated += "(除交叉重叠部分外)"
        console.print(f"各领域预算合计 {yuan(sum(budgets, Decimal(0)))}{stated}")
    for note in document.notes:
        console.print(_styled(("说明:", "bold cyan"), " ", note))
    for warning in document.warnings:
        console.print(_styled(("警告:", "bold yellow"), " ", warning))


def _register_ledger() -> None:
    from zhida.cli_ledger import register

    register(app)


_register_ledger()
__import__("zhida.cli_draft").cli_draft.register(app)  # zhida draft
__import__("zhida.cli_reform").cli_reform.register(app)  # zhida reform


if __name__ == "__main__":
    app()
