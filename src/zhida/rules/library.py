"""Where policy packs are found, and which one a command means.

A pack is a folder holding `policy.yaml` (and the document, events and rules beside it). Packs are
found, in this order, in

    the packs shipped inside the package      zhida/policies/<id>/   (importlib.resources)
    every folder named in ZHIDA_POLICIES      os.pathsep-separated; each a pack or a folder of packs

A pack's id is its folder's name. A later root may not reuse an id: two packs answering to one
name would make `--pack ID` mean whichever was found first. Only `policy.yaml` is read here, so
listing the packs stays cheap; `zhida.rules.pack.load_pack` reads the rest.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

ENVIRONMENT = "ZHIDA_POLICIES"


class PackChoiceError(ValueError):
    """A `--pack` that names no pack, or a policies folder that cannot be read; the message says which."""


@dataclass(frozen=True)
class PackEntry:
    """One pack as listed: its id, folder and the metadata of its policy.yaml."""

    id: str
    path: Path
    title: str
    issuer: str
    issued: dt.date | None
    extends: str | None  # the id of the pack this one overlays (a county's 承接落实方案)
    county: str | None  # the county an overlay applies to
    fictional: bool  # a made-up pack for tests, never law


def shipped_root() -> Path:
    """The packs inside the installed package (a real folder: the package is never zipped)."""
    return Path(str(resources.files("zhida") / "policies"))


def roots(environment: dict[str, str] | None = None) -> list[Path]:
    environment = os.environ if environment is None else environment
    extra = [Path(part) for part in environment.get(ENVIRONMENT, "").split(os.pathsep) if part.strip()]
    return [shipped_root(), *extra]


def find_packs(search: list[Path] | None = None) -> dict[str, PackEntry]:
    """Every pack under the roots, by id, in the order found."""
    found: dict[str, PackEntry] = {}
    for root in roots() if search is None else search:
        if not root.is_dir():
            raise PackChoiceError(f"{ENVIRONMENT} 中的 {root} 不是目录")
        folders = [root] if (root / "policy.yaml").is_file() else sorted(p for p in root.iterdir() if (p / "policy.yaml").is_file())
        for folder in folders:
            entry = read_entry(folder)
            earlier = found.get(entry.id)
            if earlier is not None and earlier.path.resolve() != folder.resolve():
                raise PackChoiceError(f"政策包编号 {entry.id} 重复:{earlier.path} 与 {folder}")
            found.setdefault(entry.id, entry)
    return found


def read_entry(folder: Path) -> PackEntry:
    """The listing of one pack folder, from its policy.yaml."""
    where = folder / "policy.yaml"
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PackChoiceError(f"{where}: 无法读取:{error}") from None
    if not isinstance(data, dict):
        raise PackChoiceError(f"{where}: 须为键值表(title、issuer、issued …)")
    issued = data.get("issued")
    if issued == "TODO":
        issued = None  # a drafted pack whose document printed no date: listed, `zhida check` names the TODO
    if issued is not None and not isinstance(issued, dt.date):
        raise PackChoiceError(f"{where}: issued 须为日期(如 2025-03-14),而不是 {issued!r}")
    extends = data.get("extends")
    if extends is not None and not isinstance(extends, str):
        raise PackChoiceError(f"{where}: extends 须为所扩展政策包的编号")
    return PackEntry(
        id=folder.name,
        path=folder,
        title=str(data.get("title", folder.name)),
        issuer=str(data.get("issuer", "")),
        issued=issued,
        extends=extends,
        county=str(data["county"]) if data.get("county") else None,
        fictional=bool(data.get("fictional", False)),
    )


def default_id(entries: dict[str, PackEntry]) -> str:
    """The only pack, or the newest document that extends none (an overlay is never the default)."""
    if not entries:
        raise PackChoiceError(f"没有找到任何政策包(内置目录 {shipped_root()},及 {ENVIRONMENT} 所列目录)")
    bases = [entry for entry in entries.values() if entry.extends is None] or list(entries.values())
    return max(bases, key=lambda entry: (entry.issued or dt.date.min, entry.id)).id


def choose(choice: str | None, entries: dict[str, PackEntry] | None = None) -> PackEntry:
    """The pack a `--pack` value means: an id, a folder holding policy.yaml, or None for the default."""
    if choice is not None and (os.sep in choice or "/" in choice or choice in (".", "..")):
        folder = Path(choice)
        if not (folder / "policy.yaml").is_file():
            raise PackChoiceError(f"--pack {choice}: 该目录中没有 policy.yaml,不是政策包")
        return read_entry(folder)
    entries = find_packs() if entries is None else entries
    if choice is None:
        return entries[default_id(entries)]
    if choice not in entries:
        known = "、".join(entries) or "(无)"
        raise PackChoiceError(f"--pack {choice}: 没有这个政策包;现有:{known}")
    return entries[choice]
