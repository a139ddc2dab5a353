"""The `zhida` command: one obvious thing per command.

    zhida parse FILE [--json] [--simplified]   the structure of a policy document
    zhida demo                                 the Huzhou 2025 document, parsed and summarised
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.tree import Tree

from zhida.source import Document, DocumentError, parse_file
from zhida.source.export import document_to_dict
from zhida.source.numerals import format_value
from zhida.source.script import display

app = typer.Typer(add_completion=False, no_args_is_help=True, help="政策直达: 把政策文件变成可执行的系统")

# The repository's policy packs; ZHIDA_POLICIES points elsewhere for an installed copy.
DEFAULT_POLICIES = Path(__file__).resolve().parents[2] / "policies"
QUALIFIER_WORDS = {
    "ceiling": "最高",
    "at_least": "不低于",
    "at_most": "不超过",
    "about": "约",
    "over": "超过",
    "exact": "",
}


def policies_directory() -> Path:
    return Path(os.environ.get("ZHIDA_POLICIES", DEFAULT_POLICIES))


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]错误:[/] {message}", highlight=False)
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
    console = Console()
    console.print(document_tree(document, simplified), highlight=False)
    _print_totals(console, document)


@app.command()
def demo() -> None:
    """解析内置的湖州市 2025 年政策文件并展示其结构。"""
    path = policies_directory() / "huzhou-2025" / "document.txt"
    if not path.exists():
        _fail(f"找不到示例文件 {path};请在代码仓库中运行,或设置 ZHIDA_POLICIES")
    document = _load(path)
    console = Console()
    console.print(document_tree(document, simplified=True), highlight=False)
    _print_totals(console, document)
    console.print(
        f"共 {len(document.areas)} 个领域、{len(document.articles)} 条政策、"
        f"{len(document.amounts)} 个金额、{len(document.rates)} 个比例、{len(document.indicators)} 个目标指标。"
    )


def yuan(value: Decimal) -> str:
    """17.25億元 for budgets, 20万元 for awards, 500元 for small sums: as a reader writes them."""
    if value >= 100_000_000:
        return f"{format_value(value / 100_000_000)}亿元"
    if value >= 10_000:
        return f"{format_value(value / 10_000)}万元"
    return f"{format_value(value)}元"


def document_tree(document: Document, simplified: bool) -> Tree:
    def words(text: str | None) -> str:
        return display(text or "", simplified)

    preamble = document.preamble
    root = Tree(
        f"[bold]{words(preamble.title)}[/]  {words(preamble.issuer)} {preamble.issued or ''}"
        f"  有效期 {preamble.valid_from} 至 {preamble.valid_to}  依据 {words(preamble.implements)}"
    )
    for area in document.areas:
        budget = f"  预算 {yuan(area.budget)}" if area.budget is not None else ""
        branch = root.add(f"[bold cyan]{area.number}. {words(area.title)}[/]  牵头 {words(area.department)}{budget}")
        for indicator in (i for i in document.indicators if i.area == area.number and i.article is None):
            branch.add(_indicator_line(indicator, words))
        for article in area.articles:
            leaf = branch.add(f"[bold]({article.number}) {words(article.title)}[/]")
            for amount in (a for a in document.amounts if a.article == article.number):
                per = f"/{words(amount.per)}" if amount.per else ""
                currency = "美元" if amount.currency == "USD" else ""
                money = f"{format_value(amount.value)}美元" if currency else yuan(amount.value)
                leaf.add(f"[green]金额[/] {QUALIFIER_WORDS[amount.qualifier.value]}{money}{per}")
            for rate in (r for r in document.rates if r.article == article.number):
                leaf.add(f"[yellow]比例[/] {QUALIFIER_WORDS[rate.qualifier.value]}{format_value(rate.value)}%")
            for indicator in (i for i in document.indicators if i.article == article.number):
                leaf.add(_indicator_line(indicator, words))
    return root


def _indicator_line(indicator, words) -> str:
    high = f"—{format_value(indicator.value_high)}" if indicator.value_high is not None else ""
    direction = "" if indicator.direction.value == "range" else indicator.direction.value
    return f"[magenta]目标[/] {words(indicator.name)} {direction}{format_value(indicator.value)}{high}{words(indicator.unit)} ({indicator.year})"


def _print_totals(console: Console, document: Document) -> None:
    budgets = [area.budget for area in document.areas if area.budget is not None]
    if budgets:
        stated = f",文末支持总额 {yuan(document.stated_total)}" if document.stated_total is not None else ""
        console.print(f"各领域预算合计 {yuan(sum(budgets, Decimal(0)))}{stated}")
    for warning in document.warnings:
        console.print(f"[bold yellow]警告:[/] {warning}", highlight=False)


if __name__ == "__main__":
    app()
