"""What every page of the web app shares: the script, who is signed in, guarded forms, rendering.

    render(request, name, context)   a template in Simplified, or converted to Traditional whole; it
                                     knows the pack the page shows (`pack_site`) and where that pack's
                                     pages are (`base`: /packs/<id>, or '' at the short addresses)
    page_lang(request)               zh-Hans or zh-Hant: ?lang=, else the zhida_lang cookie
    viewer(request)                  the signed-in user of a page (session cookie), or None
    signed_in_page(request, *roles)  the same, or LoginNeeded (-> /login) / Refused (-> error page)
    guarded(request, form, viewer, work)
                                     a form's change: its CSRF field checked, run once per its key
    site                             /login, /logout, /lang (the 简/繁 switch of every page)

A page's form carries two hidden fields, written by `guard()` in the template: `csrf_token`, the
session's CSRF token (a cookie rides along with any request, so a write must prove it came from
our page), and `once`, a fresh key per render (a double click or a resubmitted form changes
nothing twice: the same machinery as the API's Idempotency-Key, web/access.run_once).

A page is rendered in Simplified; for Traditional the whole page is converted, and `_Keeper`
holds back what must stay as it is: what the user typed and the clause quoted from the document.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from zhida.ledger import accounts
from zhida.ledger.access import ROLE_NAMES, Actor, Refused, Role
from zhida.ledger.database import reading, transaction
from zhida.source.script import to_simplified, to_traditional
from zhida.web.access import SESSION_COOKIE, fingerprint_of, run_once
from zhida.web.catalogue import clause_text, explicit, served

# An installed regular package is a directory on disk: `files()` is a real path there.
TEMPLATES = Path(str(files("zhida.web") / "templates"))
STATIC = Path(str(files("zhida.web") / "static"))
LANG_COOKIE = "zhida_lang"
TRADITIONAL = "zh-Hant"
SIMPLIFIED = "zh-Hans"

# Where each role starts after signing in, and what its menu holds (besides the public pages).
HOME = {
    Role.APPLICANT: "/me",
    Role.REVIEWER: "/console",
    Role.FINANCE: "/finance",
    Role.LEADERSHIP: "/dashboard",
    Role.ADMIN: "/console",
}
MENU = {
    Role.APPLICANT: (("/me", "我的政策"), ("/me/applications", "我的申报")),
    Role.REVIEWER: (("/console", "审核工作台"), ("/console/targets", "目标任务"), ("/import", "数据导入")),
    Role.FINANCE: (("/finance", "资金拨付"),),
    Role.LEADERSHIP: (("/dashboard", "领导驾驶舱"), ("/sandbox", "政策沙盘")),
    Role.ADMIN: (("/console", "审核工作台"), ("/finance", "资金拨付"), ("/dashboard", "领导驾驶舱"), ("/sandbox", "政策沙盘"),
                 ("/import", "数据导入")),
}
PUBLIC_MENU = (("/policy", "政策原文"), ("/", "政策计算器"), ("/publicity", "兑前公示"), ("/packs", "政策文件"))
PACK_PAGES = ("/policy", "/")  # menu entries of the pack a page shows: under /packs/<id> on its pages


def template_environment() -> Environment:
    """The Jinja environment of the pages, /docs and the error pages (autoescaped HTML)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --------------------------------------------------------------------------- script

_MARK = re.compile("\ue000(\\d+)\ue001")


class _Keeper:
    """Protects fragments from the Simplified -> Traditional conversion of a whole page.

    `keep(text)` stands for text that must appear as it is in either script: what the
    user typed and the clause quoted verbatim from the document. In Traditional the
    page is rendered with placeholders, converted, and the fragments put back.
    """

    def __init__(self, traditional: bool):
        self.traditional = traditional
        self.kept: list[str] = []

    def __call__(self, value: Any) -> Markup:
        text = str(escape("" if value is None else value))
        if not self.traditional:
            return Markup(text)
        self.kept.append(text)
        return Markup(f"\ue000{len(self.kept) - 1}\ue001")

    def finish(self, html: str) -> str:
        if not self.traditional:
            return html
        return _MARK.sub(lambda match: self.kept[int(match[1])], to_traditional(html))


def lang_of(value: str | None) -> str:
    return TRADITIONAL if value in ("zh-Hant", "zh-TW", "zh-HK", "hant", "traditional") else SIMPLIFIED


def page_lang(request: Request) -> str:
    """The script of a page: an explicit ?lang= wins (a shared link), else the reader's switch."""
    asked = request.query_params.get("lang")
    return lang_of(asked if asked is not None else request.cookies.get(LANG_COOKIE))


# --------------------------------------------------------------------------- who is reading


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page, with the CSRF token its forms must carry."""

    actor: Actor
    csrf: str


class LoginNeeded(Exception):
    """A page for signed-in users was asked for without a session: the app answers with /login."""

    def __init__(self, path: str):
        self.path = path


def viewer(request: Request) -> Viewer | None:
    """The user signed in by the session cookie, or None (no ledger, no cookie, expired)."""
    state = request.app.state.ledger
    cookie = request.cookies.get(SESSION_COOKIE)
    if state is None or not cookie:
        return None
    with reading(state.factory) as session:
        found = accounts.signed_in(session, cookie, "session")
    return Viewer(found[0], found[1].csrf) if found else None


def signed_in_page(request: Request, *roles: Role) -> Viewer:
    """The viewer of a page that needs one of `roles` (any role if none are given)."""
    found = viewer(request)
    if found is None:
        raise LoginNeeded(_local_path(request))
    if roles and found.actor.role not in roles and found.actor.role is not Role.ADMIN:
        raise Refused(403, f"此页面仅供{'、'.join(ROLE_NAMES[role] for role in roles)}使用")
    return found



def _local_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target from a form or query: a path of this site only (never //host or a scheme)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


# --------------------------------------------------------------------------- forms


def guarded(request: Request, form: FormData, who: Viewer, work: Callable[[Session], tuple[int, Any]]) -> Any:
    """Run a form's change once: the form's CSRF field must be the session's, its `once` key new.

    `work(session)` returns (status, JSON-able payload) as for the API; a second post of the same
    form (double click, browser resubmit) answers the first payload and changes nothing. Raises
    Refused with a Chinese sentence for the page to show."""
    if not secrets.compare_digest(str(form.get("csrf_token", "")), who.csrf):
        raise Refused(403, "表单已失效(登录状态已变化),请刷新页面后重新提交")
    if who.actor.role is Role.LEADERSHIP:
        raise Refused(403, f"领导角色只能查看,不能变更;{who.actor.username} 的此项请求未执行")
    key = str(form.get("once", ""))
    if not key:
        raise Refused(422, "表单缺少提交编号,请刷新页面后重新提交")
    data = sorted((name, str(value)) for name, value in form.multi_items() if name not in ("csrf_token", "once")
                  and isinstance(value, str))
    answer = run_once(request.app.state.ledger, who.actor, key, fingerprint_of(["page", request.url.path, data]), work)
    return json.loads(answer.body)


def redirect(target: str) -> RedirectResponse:
    """After a form's change, the page that shows its result (POST -> 303 -> GET: reload is safe)."""
    return RedirectResponse(target, status_code=303)


# --------------------------------------------------------------------------- render


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A template with what every page needs: its pack (title, where its pages are), script, viewer,
    menu, form guard."""
    app = request.app
    site = served(request, strict=False)
    root = site.root(explicit(request))
    lang = context.get("lang") or page_lang(request)
    keep = _Keeper(lang == TRADITIONAL)
    who = context["viewer"] if "viewer" in context else _quiet_viewer(request)
    role = who.actor.role if who else None

    def guard() -> Markup:
        if who is None:
            return Markup("")
        return Markup('<input type="hidden" name="csrf_token" value="{}"><input type="hidden" name="once" value="{}">').format(
            who.csrf, secrets.token_urlsafe(16)
        )

    def quoted(rule_id: str) -> Markup:
        """A rule's clause in the reader's script: as the document has it in Traditional, converted in
        Simplified; kept out of the page's conversion either way ('' for an unknown rule)."""
        try:
            original = clause_text(app.state.pack, app.state.pack.rule(rule_id))
        except KeyError:
            return Markup("")
        return keep(original if lang == TRADITIONAL else to_simplified(original))

    html = app.state.templates.get_template(name).render(
        {
            "document_title": site.title,  # policy.yaml's title, Simplified
            "subjects": site.pack.subjects,
            "pack_site": site,  # the pack the page shows (catalogue.ServedPack)
            "served_packs": list(app.state.packs.values()),
            "base": root,  # where its pages are: /packs/<id>, or '' at the default pack's short addresses
            "api_base": site.api_root(explicit(request)),
            "request_lang": request.query_params.get("lang"),  # an address's own ?lang=, kept by its forms
            "keep": keep,
            "error": None,
            "notice": None,
            "viewer": who,
            "menu": _menu(root, role),
            "role_name": ROLE_NAMES.get(role, "") if role else "",
            "here": request.url.path,
            "switch_url": _switch_url(request, lang),
            "guard": guard,
            "quoted": quoted,
            "money": yuan,
            "number": counted,
            "local": local_time,
            **context,
            "lang": lang,
        }
    )
    return HTMLResponse(keep.finish(html), status_code=status)


def _menu(root: str, role: Role | None) -> tuple[tuple[str, str], ...]:
    public = tuple((root + href if href in PACK_PAGES else href, label) for href, label in PUBLIC_MENU)
    return public + MENU.get(role, ())


def _quiet_viewer(request: Request) -> Viewer | None:
    """The viewer for the menu of a public page; a broken ledger never breaks the page itself."""
    try:
        return viewer(request)
    except Exception:  # noqa: BLE001 - an error page must render even when the ledger is down
        return None


def _switch_url(request: Request, lang: str) -> str:
    other = SIMPLIFIED if lang == TRADITIONAL else TRADITIONAL
    return "/lang?" + urlencode({"to": other, "next": _local_path(request)})


BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")  # the ledger keeps UTC; people read Beijing time


def local_time(moment: dt.datetime | None) -> str:
    """A UTC time of the ledger (naive) as Beijing time, to the minute; '' for none."""
    if moment is None:
        return ""
    return moment.replace(tzinfo=dt.timezone.utc).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def counted(value: int | str | Decimal | None) -> str:
    """A count for people: 289,546; a weighted sample's count keeps its fraction (1,234.5)."""
    return "" if value is None or value == "" else f"{Decimal(str(value)):,}"


def yuan(value: Any) -> str:
    """An amount for people: 1,234,567.80 (thousands separated, two decimals); '' for none."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


# --------------------------------------------------------------------------- sign-in and script routes

site = APIRouter(include_in_schema=False)


@site.get("/lang")
def switch_lang(request: Request, to: str = SIMPLIFIED, next: str = "/") -> RedirectResponse:
    """The 简/繁 switch: remembered in a cookie; the page it came from is shown again in that script."""
    lang = lang_of(to)
    target = safe_next(next)
    # the page's own ?lang= would override the cookie: drop it from the way back
    parts = urlsplit(target)
    query = [(k, v) for k, v in _pairs(parts.query) if k != "lang"]
    target = parts.path + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True)
    return response


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


@site.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next, ""), "username": ""})


@site.post("/login", response_class=HTMLResponse)
async def login_post(request: Request):
    form = await request.form()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")), "")
    state = request.app.state.ledger
    if state is None:
        raise Refused(503, "此服务未配置账本数据库(以 zhida serve 启动,或设置 DATABASE_URL)")
    context = {"next": target, "username": username, "viewer": None}
    if not username or not password:
        return render(request, "login.html", context | {"error": "请输入用户名和密码"}, 422)
    if len(password) > accounts.MAX_PASSWORD:
        return render(request, "login.html", context | {"error": f"密码至多 {accounts.MAX_PASSWORD} 个字符"}, 422)
    try:
        with transaction(state.factory) as session:
            signed = accounts.log_in(session, username, password)
            earlier = request.cookies.get(SESSION_COOKIE)
            if signed is not None and earlier:
                accounts.log_out(session, earlier)
    except Refused as error:  # throttled
        return render(request, "login.html", context | {"error": error.message}, error.status)
    if signed is None:
        return render(request, "login.html", context | {"error": accounts.WRONG_CREDENTIALS}, 401)
    response = redirect(target or HOME[signed.actor.role])
    response.set_cookie(
        SESSION_COOKIE, signed.token, max_age=accounts.SESSION_HOURS * 3600, path="/",
        httponly=True, samesite="lax", secure=request.url.scheme == "https",
    )
    return response


@site.post("/logout")
async def logout_post(request: Request) -> RedirectResponse:
    form = await request.form()
    who = viewer(request)
    response = redirect("/")
    if who is not None and secrets.compare_digest(str(form.get("csrf_token", "")), who.csrf):
        with transaction(request.app.state.ledger.factory) as session:
            accounts.log_out(session, request.cookies[SESSION_COOKIE])
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=request.url.scheme == "https")
    return response
