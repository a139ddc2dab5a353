"""Importing the register and events from Excel or CSV, with templates and row errors.

    GET  /import                                   two upload forms (主体名册, 事件), for reviewers and admin
    POST /import/register, /import/events          one file each: all rows imported, or none and the
                                                   page lists every bad row (row, column, reason)
    GET  /import/templates/{register|events}.{xlsx|csv}   the templates with Chinese headers

The reading, the checks and the writing are the ledger's (zhida.ledger.imports); a form posts
once (site.guarded) and a success is a 303 to /import with the count, so a reload posts nothing.
"""

from __future__ import annotations

import re

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from zhida.ledger import imports, sheets
from zhida.ledger.access import Refused, Role
from zhida.web.exports import download
from zhida.web.site import guarded, redirect, render, signed_in_page

router = APIRouter(include_in_schema=False)

# The import form takes a spreadsheet: BodyLimit lets it through up to this bound.
UPLOAD_PATH = re.compile(r"/import/(register|events)")
UPLOAD_BODY_BYTES = 20 * 1024 * 1024

WHAT = {"register": ("主体名册", "个主体"), "events": ("事件", "条事件")}
TEMPLATE_NAMES = {"register": ("主体名册导入模板", "register"), "events": ("事件导入模板", "events")}


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, imported: str | None = None, count: int | None = None) -> HTMLResponse:
    who = signed_in_page(request, Role.REVIEWER)
    notice = None
    if imported in WHAT and count is not None and 0 <= count <= imports.MAX_ROWS:
        notice = f"已导入 {count} {WHAT[imported][1]}"
    return render(request, "import.html", {"viewer": who, "notice": notice, "refused": None, "which": None})


@router.post("/import/{which}", response_class=HTMLResponse)
async def import_post(request: Request, which: str):
    if which not in WHAT:
        raise Refused(404, "没有这个导入项")
    async with request.form() as form:  # closes the upload's temporary file
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        filename = upload.filename if isinstance(upload, UploadFile) else ""
        return await anyio.to_thread.run_sync(lambda: _import(request, form, which, data, filename or ""))


def _import(request: Request, form, which: str, data: bytes, filename: str):
    who = signed_in_page(request, Role.REVIEWER)
    context = {"viewer": who, "which": which, "filename": filename, "refused": None}
    if not data:
        return render(request, "import.html", context | {"error": f"请选择要导入的{WHAT[which][0]}文件(.xlsx 或 .csv)"}, 422)
    state = request.app.state.ledger
    run = imports.import_register if which == "register" else imports.import_events

    def work(session):
        return 200, {"count": run(session, state.pack, who.actor, data)}

    try:
        answer = guarded(request, form, who, work)
    except imports.ImportRefused as refused:
        return render(request, "import.html", context | {"refused": refused, "error": refused.message}, 422)
    except Refused as refused:
        return render(request, "import.html", context | {"error": refused.message}, refused.status)
    return redirect(f"/import?imported={which}&count={int(answer['count'])}")


@router.get("/import/templates/{name}.{fmt}")
def import_template(request: Request, name: str, fmt: str) -> Response:
    signed_in_page(request, Role.REVIEWER)  # templates are for the departments that import
    if name not in TEMPLATE_NAMES or fmt not in ("xlsx", "csv"):
        raise Refused(404, "没有这个模板;可下载 register.xlsx、register.csv、events.xlsx、events.csv")
    pack = request.app.state.pack
    tables = sheets.register_template(pack) if name == "register" else sheets.events_template(pack)
    data = sheets.xlsx_bytes(tables) if fmt == "xlsx" else sheets.csv_bytes(tables[0])
    stem, ascii_stem = TEMPLATE_NAMES[name]
    return download(data, stem, f"{ascii_stem}-template", fmt, private=False)
