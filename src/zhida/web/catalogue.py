"""What the web layer knows of a pack before any request: built once, in create_app, kept on app.state.

    build_catalogue(pack) -> Catalogue
        rules_json, events_json, subjects_json, health_json   the bodies of the catalogue endpoints
                                                               (GET /api/v1/rules | events | subjects | health),
                                                               serialised once as bytes
        document_title, article_titles                         Simplified, for the pages
        default_date                                           first day of the document's validity
        kinds                                                  subject kind -> the event types it may have

    ServedPack, served(request)                                one pack of several the server offers, and
                                                               the one a request means: /packs/{pack_id}/…
                                                               and /api/v1/packs/{pack_id}/… name it, every
                                                               other address means the default pack

Nothing here depends on a request, so a request never pays for it. Amounts in the catalogue are
decimal strings to the 分 (ROUND_HALF_UP), never floats; clause texts are shown in Simplified.
This is the lowest room of the web layer: it imports nothing else from zhida.web.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from zhida.ledger.access import Refused
from zhida.rules.library import PackEntry
from zhida.rules.model import EventType, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified, to_traditional

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Catalogue:
    rules_json: bytes
    events_json: bytes
    subjects_json: bytes
    health_json: bytes
    document_title: str  # Simplified
    article_titles: dict[int, str]  # Simplified
    default_date: str  # first day of the document's validity, for new event rows
    kinds: dict[str, tuple[EventType, ...]] = field(default_factory=dict)  # subject kind -> its event types


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def clause_text(pack: Pack, rule: Rule) -> str:
    """The clause as its document has it (original script): a county rule's from the county's text."""
    return pack.document_of(rule).text[rule.clause_span[0] : rule.clause_span[1]]


def rule_to_dict(pack: Pack, rule: Rule) -> dict[str, Any]:
    spec = rule.spec
    return {
        "id": rule.id,
        "pack": rule.pack or pack.id,  # the document the rule implements: a county overlay holds two
        "layer": rule.layer.value,
        "title": spec.title,
        "article": spec.article,
        "kind": spec.kind.value,
        "event": spec.event,
        "subject": list(spec.subject),
        "when": rule.when.text,
        "amount": rule.amount.text if rule.amount is not None else None,
        "result": spec.result,
        "caps": [
            {"id": cap.id, "per": cap.per.value, "yuan": _money(cap.yuan), "clause": to_simplified(cap.clause)}
            for cap in rule.caps
        ],
        "clause": to_simplified(clause_text(pack, rule)),
        "department": to_simplified(rule.department),
        "area": rule.area,
        "valid_from": rule.valid_from.isoformat(),
        "valid_to": rule.valid_to.isoformat(),
    }


def event_type_to_dict(event: EventType) -> dict[str, Any]:
    return {
        "name": event.name,
        "title": event.title,
        "subjects": list(event.subjects),
        "fields": [
            {
                "name": f.name,
                "type": f.type.value,
                "title": f.title,
                "unit": f.unit,
                "values": list(f.values),
                "minimum": None if f.minimum is None else str(f.minimum),
            }
            for f in event.fields
        ],
    }


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_catalogue(pack: Pack) -> Catalogue:
    valid_from = pack.document.preamble.valid_from
    return Catalogue(
        rules_json=_dump([rule_to_dict(pack, rule) for rule in pack.rules]),
        events_json=_dump([event_type_to_dict(event) for event in pack.events.values()]),
        subjects_json=_dump([{"kind": kind, "name": name} for kind, name in pack.subjects.items()]),
        health_json=_dump({"status": "ok", "rules": len(pack.rules), "events": len(pack.events)}),
        document_title=to_simplified(pack.document.preamble.title),
        article_titles={article.number: to_simplified(article.title) for article in pack.document.articles},
        default_date=(valid_from or dt.date(2025, 1, 1)).isoformat(),
        kinds={
            kind: tuple(event for event in pack.events.values() if kind in event.subjects) for kind in pack.subjects
        },
    )


# --------------------------------------------------------------------------- several packs

PACK_PARAM = "pack_id"  # the path parameter of /packs/{pack_id}/… and /api/v1/packs/{pack_id}/…
SHOWN_ID = 60  # characters of an unknown pack id written back in its 404


@dataclass(frozen=True)
class ServedPack:
    """One pack the server offers: its listing (policy.yaml), the loaded pack and its catalogue."""

    entry: PackEntry
    pack: Pack
    catalogue: Catalogue
    default: bool  # answered at the short addresses too (/calc, /api/v1/calculate …); the ledger's pack

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def title(self) -> str:
        return to_simplified(self.entry.title)

    @property
    def issuer(self) -> str:
        return to_simplified(self.entry.issuer or self.pack.document.preamble.issuer or "")

    @property
    def issued(self) -> dt.date | None:
        return self.entry.issued or self.pack.document.preamble.issued

    @property
    def year(self) -> int | None:
        return self.issued.year if self.issued else None

    def root(self, explicit: bool = True) -> str:
        """Where its pages are: /packs/<id>, or '' for the default pack reached at the short addresses."""
        return f"/packs/{quote(self.id, safe='')}" if explicit or not self.default else ""

    def api_root(self, explicit: bool = True) -> str:
        return f"/api/v1/packs/{quote(self.id, safe='')}" if explicit or not self.default else "/api/v1"

    def reference(self, traditional: bool = False) -> dict[str, Any]:
        """What the pack's document is, as a calculation names it: title, issuer, date, fictional."""
        return {
            "title": _in_script(self.entry.title, traditional),
            "issuer": _in_script(self.entry.issuer or self.pack.document.preamble.issuer or "", traditional),
            "issued": self.issued.isoformat() if self.issued else None,
            "fictional": self.entry.fictional,
        }


def _in_script(original: str, traditional: bool) -> str:
    """Words of a document: Simplified, or in Traditional as the document writes them when it does."""
    simplified = to_simplified(original)
    if not traditional:
        return simplified
    return original if original != simplified else to_traditional(original)


def served(request: Request, strict: bool = True) -> ServedPack:
    """The pack a request means: the one its address names, else the default one.

    An id the server does not know is a 404 naming it (`strict`); an error page itself asks with
    strict=False and is shown over the default pack."""
    packs: dict[str, ServedPack] = request.app.state.packs
    chosen = request.path_params.get(PACK_PARAM)
    if chosen is None:
        return packs[request.app.state.default_pack]
    found = packs.get(chosen)
    if found is not None:
        return found
    if strict:
        raise Refused(404, unknown_pack(chosen, packs))
    return packs[request.app.state.default_pack]


def explicit(request: Request) -> bool:
    """Whether the address names its pack (/packs/<id>/…): links from the page keep naming it."""
    return PACK_PARAM in request.path_params


def unknown_pack(chosen: str, packs: dict[str, ServedPack]) -> str:
    shown = chosen if len(chosen) <= SHOWN_ID else chosen[:SHOWN_ID] + "…"
    return f"没有编号为“{shown}”的政策包;现有:{'、'.join(packs)}"
