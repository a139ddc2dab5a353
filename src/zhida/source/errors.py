"""Errors raised while reading a policy document.

    DocumentError           the input is not a policy document zhida can read
      ├── EmptyDocument     no text at all
      ├── BinaryDocument    bytes that are not text in UTF-8, GB18030 or GBK
      └── NoStructure       text, but no area headings (一、…), or areas without any article ((一)…):
                            the message says which is missing and names lines that looked like headings
"""


class DocumentError(ValueError):
    """Base class: the message names the file and what is wrong with it."""


class EmptyDocument(DocumentError):
    pass


class BinaryDocument(DocumentError):
    pass


class NoStructure(DocumentError):
    pass
