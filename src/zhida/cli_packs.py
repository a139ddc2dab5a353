"""Which policy pack a command works on: `zhida packs` lists them, and every command that reads a
pack takes `--pack ID` (an id from that list, or a folder holding policy.yaml), by default the only
pack or the newest (zhida.rules.library.choose). Shared by cli.py and the ledger's cli_* modules.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zhida.rules import library
from zhida.rules.library import PackChoiceError, PackEntry
from zhida.rules.pack import Pack, PackError, load_pack
from zhida.source import DocumentError
from zhida.source.script import to_simplified

PACK_OPTION = typer.Option(
    None, "--pack", metavar="ID",
    help="政策包编号(见 zhida packs)或政策包目录;默认取唯一的或最新的政策包",
)


def fail(message: str) -> None:
    """One sentence on stderr and exit code 2, as every bad input of the CLI."""
    console = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)
    console.print(Text.assemble(("错误:", "bold red"), " ", message))
    raise typer.Exit(code=2)


def choose(choice: str | None) -> PackEntry:
    """The pack `--pack` names (None: the default), or exit 2 naming the known ids."""
    try:
        return library.choose(choice)
    except PackChoiceError as error:
        fail(str(error))
        raise  # unreachable: fail exits


def open_pack(choice: str | None) -> Pack:
    """The pack `--pack` names, loaded and checked; a broken pack exits 2 with its loader's message."""
    entry = choose(choice)
    try:
        return load_pack(entry.path)
    except (PackError, DocumentError) as error:
        fail(str(error))
        raise


def packs() -> None:
    """列出可用的政策包:编号、文件标题、发文机关、发布日期、所扩展的政策包、目录,并标出默认政策包。"""
    try:
        entries = library.find_packs()
        default = library.default_id(entries)
    except PackChoiceError as error:
        fail(str(error))
    table = Table(title=Text("政策包(--pack 编号)"), title_justify="left")
    for column in ("编号", "标题", "发文机关", "发布日期", "扩展自", "默认", "目录"):
        table.add_column(column, overflow="fold", no_wrap=column in ("编号", "发布日期"))
    for entry in entries.values():
        title = to_simplified(entry.title) + (" (虚构)" if entry.fictional else "")
        table.add_row(*(Text(cell) for cell in (
            entry.id, title, to_simplified(entry.issuer), entry.issued.isoformat() if entry.issued else "",
            entry.extends or "", "是" if entry.id == default else "", str(entry.path),
        )))
    console = Console(markup=False, emoji=False, highlight=False)
    console.print(table)
    console.print(f"共 {len(entries)} 个政策包;默认:{default}。另有目录可用环境变量 {library.ENVIRONMENT} 加入。")
