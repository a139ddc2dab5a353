"""Bytes to text: UTF-8 (with or without BOM), else GB18030 (a superset of GBK and GB2312)."""

from __future__ import annotations

import re
from pathlib import Path

from zhida.source.errors import BinaryDocument, DocumentError, EmptyDocument

# Control characters other than tab, newline and carriage return do not occur in a text document.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def decode(data: bytes, name: str) -> str:
    """Decode a document's bytes, refusing what is not text with a message naming `name`."""
    if not data.strip():
        raise EmptyDocument(f"{name}: 文件为空,没有可解析的文字")
    if b"\x00" in data:
        raise BinaryDocument(f"{name}: 这是二进制文件,不是文本文件(含有 NUL 字节)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text.replace("\r\n", "\n").replace("\r", "\n")
    raise BinaryDocument(f"{name}: 无法按 UTF-8、GB18030 或 GBK 解码,不是文本文件")


def _looks_like_text(text: str) -> bool:
    return len(_CONTROL.findall(text)) <= len(text) // 1000


def read_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise DocumentError(f"{path}: 文件不存在") from error
    except IsADirectoryError as error:
        raise DocumentError(f"{path}: 这是目录,不是文件") from error
    except OSError as error:
        raise DocumentError(f"{path}: 无法读取 ({error.strerror})") from error
    return decode(data, str(path))
