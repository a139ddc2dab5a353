"""`zhida draft DOCUMENT -o FOLDER`: a pack skeleton from a document of the family, and the TODO
gate of `zhida check` (a drafted pack is checked only once every TODO is filled).

Registered on `zhida` by cli.py; imports nothing from it.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from zhida.rules.draft import DraftError, draft, todos, write_draft
from zhida.rules.library import PackChoiceError, choose
from zhida.source import DocumentError, parse_file


def _console(stderr: bool = False) -> Console:
    # Words from a document may hold [/]: never read them as markup (as cli._console). One TODO a
    # line, unwrapped, so that a reader (or grep) finds its file and line whole.
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    _console(stderr=True).print(Text.assemble(("错误:", "bold red"), " ", message))
    raise typer.Exit(code=2)


DOCUMENT_ARGUMENT = typer.Argument(..., help="政策文件(UTF-8 或 GBK/GB18030 文本),与湖州文件同一体例")
OUTPUT_OPTION = typer.Option(..., "-o", "--output", help="新政策包目录,如 policies/jiaxing-2026/(不得已存在)")
FORCE_OPTION = typer.Option(False, "--force", help="目录已存在时覆盖它")


def draft_command(document: Path = DOCUMENT_ARGUMENT, output: Path = OUTPUT_OPTION, force: bool = FORCE_OPTION) -> None:
    """从政策文件起草政策包:文件原文、元数据、事件类型,以及每个受益句的规则骨架(待填写处为 TODO)。"""
    if output.exists() and not force:
        _fail(f"{output}: 目录已存在,未写入任何文件;换一个目录,或加 --force 覆盖")
    try:
        parsed = parse_file(document)
    except DocumentError as error:
        _fail(f"无法起草:{error}")
        raise
    result = draft(parsed)
    try:
        write_draft(result, document, output, force=force)
    except (DraftError, OSError) as error:
        _fail(f"无法写入 {output}:{error}")
    left = todos(output)
    console = _console()
    console.print(
        f"已起草 {output}:{len(result.rules)} 条规则、{len(result.caps)} 个上限、{len(result.events)} 个事件类型,"
        f"覆盖 {len(result.benefit_sentences)} 个受益句;待填写 TODO {len(left)} 处。"
    )
    for todo in left:
        console.print(f"  {todo.describe()}")
    for warning in parsed.warnings:  # a heading the parser could not place: its benefits may be missing
        console.print(Text.assemble(("解析警告:", "bold yellow"), " ", warning))
    console.print(f"填写完所有 TODO 后运行:zhida check --pack {output}")


def refuse_todos(pack: object) -> None:
    """Exit 1 listing the TODOs of a drafted pack; a pack that cannot be found is left to the caller."""
    folder = _folder(pack)
    if folder is None:
        return
    left = todos(folder)
    if not left:
        return
    console = _console()
    console.print(Text.assemble(("未完成:", "bold red"), f" 政策包 {folder} 还有 {len(left)} 处 TODO 未填写,不能检查:"))
    for todo in left:
        console.print(f"  {todo.describe()}")
    console.print("逐一填写(条件写成 SQL 条件,金额写成表达式,理由写 budget、target 等),再运行 zhida check。")
    raise typer.Exit(code=1)


def _folder(pack: object) -> Path | None:
    """The folder a --pack value names: a folder, an id, or None for the default."""
    if pack is not None and Path(str(pack)).is_dir() and (os.sep in str(pack) or "/" in str(pack)):
        return Path(str(pack))  # a folder: its TODOs are listed even when its policy.yaml has some
    try:
        return choose(None if pack is None else str(pack)).path
    except (PackChoiceError, OSError):
        return None


def register(app: typer.Typer) -> None:
    app.command("draft")(draft_command)
