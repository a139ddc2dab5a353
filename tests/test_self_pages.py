"""The self-service pages (/me …) and the public 兑前公示 list, on SQLite and PostgreSQL.

Amounts by hand from (三) 創新券: "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"
(rule innovation-voucher, lead department 市科技局): 300,000 元 of service fees → 最高可得 150,000 元.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import func, select

from ledger_helpers import code, ledger_app
from zhida.ledger import review
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.accounts import actor_of
from zhida.ledger.database import transaction
from zhida.ledger.identity import id_number_check, mask_identity
from zhida.ledger.payments import make_batch, mark
from zhida.web import self_pages

A = code(201)
B = code(202, "330503")
PDF = b"%PDF-1.4\n% invoice\n"
CLAUSE = "按实际发生服务费用给予最高50%比例的补助,单个企业全年最高补助20万元"


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    ledger.subject(A, name="湖州甲科技有限公司", county="吴兴区")
    ledger.subject(B, name="湖州乙科技有限公司", county="南浔区")
    ledger.user("qiye", Role.APPLICANT, subject_id=A)
    ledger.user("yiqi", Role.APPLICANT, subject_id=B)
    yield ledger
    ledger.close()


def sign_in(ledger, username: str) -> None:
    answer = ledger.client.post("/login", data={"username": username, "password": "password-" + username},
                                follow_redirects=False)
    assert answer.status_code == 303, answer.text


def guard(html: str) -> dict[str, str]:
    """The hidden csrf_token and once fields a page's forms carry."""
    return dict(re.findall(r'name="(csrf_token|once)" value="([^"]+)"', html)[:2])


def submit(ledger, page: str, action: str, data: dict, files=None):
    """Post a form as the browser would: from the page that holds it, with its guard fields."""
    shown = ledger.client.get(page)
    assert shown.status_code == 200, shown.text
    return ledger.client.post(action, data={**guard(shown.text), **data}, files=files, follow_redirects=False)


def keep_fee(ledger, fee: str, as_of: str = "2025-03-01"):
    return submit(ledger, "/me/profile", "/me/profile", {"as_of": as_of, "service_fee": fee})


def apply_voucher(ledger, fee: str = "300000", files=None):
    files = files if files is not None else [("files", ("发票.pdf", PDF, "application/pdf"))]
    return submit(ledger, "/me/apply?rule=innovation-voucher", "/me/apply",
                  {"rule": "innovation-voucher", "date": "2025-03-01", "service_fee": fee}, files)


def count(ledger, model) -> int:
    with transaction(ledger.state.factory) as session:
        return session.scalar(select(func.count()).select_from(model))


def applied(ledger) -> int:
    answer = apply_voucher(ledger)
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].split("/")[-1].split("?")[0])


# --------------------------------------------------------------------------- /me and /me/profile


def test_a_kept_profile_value_turns_into_candidates_with_amount_clause_and_department(ledger):
    sign_in(ledger, "qiye")
    saved = keep_fee(ledger, "300,000")
    assert (saved.status_code, saved.headers["location"]) == (303, "/me/profile?saved=1")
    profile = ledger.client.get("/me/profile").text
    assert "300,000.00 元" in profile and "自行申报" in profile and "2025-03-01" in profile
    page = ledger.client.get("/me")
    assert page.status_code == 200
    text = page.text
    assert "湖州甲科技有限公司" in text and A in text and "吴兴区" in text
    # 300,000 × 50% = 150,000, under the 200,000 annual cap.
    voucher = text[text.index("创新券补助"):]
    voucher = voucher[:voucher.index("</article>")]
    assert "最高可得 150,000.00 元" in voucher and CLAUSE in voucher and "市科技局" in voucher
    assert 'href="/policy/articles/3"' in voucher and 'href="/me/apply?rule=innovation-voucher"' in voucher
    # A by-measure benefit with no amount of this document: listed, with where its amount comes from.
    assert "可申请,金额按市科技局配套政策文件(“揭榜挂帅”项目管理办法)执行" in text
    # Below: what does not apply, with the reason in words (no field keys).
    assert "需补充:研发费用、营业收入" in text and "rd_expense" not in text
    assert "仅适用于孵化载体运营主体" in text


def test_a_bad_profile_value_names_the_field_keeps_the_form_and_writes_nothing(ledger):
    sign_in(ledger, "qiye")
    for fee, words in (("abc", "实际发生服务费用"), ("1e27", "实际发生服务费用"), ("-5", "实际发生服务费用")):
        refused = keep_fee(ledger, fee)
        assert refused.status_code == 422, fee
        assert words in refused.text and f'value="{fee}"' in refused.text
    wrong_day = keep_fee(ledger, "300000", "2025-02-30")
    assert wrong_day.status_code == 422 and "数据日期" in wrong_day.text and 'value="2025-02-30"' in wrong_day.text
    nothing = submit(ledger, "/me/profile", "/me/profile", {"as_of": "2025-03-01"})
    assert nothing.status_code == 422 and "至少填写一项" in nothing.text
    no_token = ledger.client.post("/me/profile", data={"as_of": "2025-03-01", "service_fee": "1", "once": "k1"})
    assert no_token.status_code == 403
    assert count(ledger, t.ProfileFact) == 0


def test_thirty_wan_is_read_as_300000(ledger):
    sign_in(ledger, "qiye")
    assert keep_fee(ledger, "30万").status_code == 303
    assert "300,000.00 元" in ledger.client.get("/me/profile").text


def test_pages_for_applicants_only(ledger):
    anonymous = ledger.client.get("/me", follow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login?next=%2Fme")
    sign_in(ledger, "kejiju")
    assert ledger.client.get("/me").status_code == 403
    sign_in(ledger, "admin")  # passes the role check, but has no subject
    refused = ledger.client.get("/me/applications")
    assert refused.status_code == 403 and "未关联申报主体" in refused.text


# --------------------------------------------------------------------------- applying


def test_apply_with_a_file_and_see_the_status(ledger):
    sign_in(ledger, "qiye")
    keep_fee(ledger, "300000")
    form = ledger.client.get("/me/apply?rule=innovation-voucher").text
    assert 'value="300000.00"' in form and CLAUSE in form  # filled from the profile
    number = applied(ledger)
    detail = ledger.client.get(f"/me/applications/{number}?done=submitted").text
    assert "申请已提交" in detail and "待审核" in detail and "150,000.00 元" in detail and "发票.pdf" in detail
    listing = ledger.client.get("/me/applications").text
    assert f'href="/me/applications/{number}"' in listing and "待审核" in listing and "150,000.00" in listing
    with transaction(ledger.state.factory) as session:
        row = session.scalars(select(t.Attachment)).one()
        assert (row.application_id, row.filename, row.size) == (number, "发票.pdf", len(PDF))
        assert row.media_type == "application/pdf"
    # the candidate now says the fee is claimed: while the claim waits, nothing is decided yet, so the
    # room is still 150,000 (50% of 300,000 under the 200,000 annual cap), offered for new fees only
    me = ledger.client.get("/me").text
    assert f'<a href="/me/applications/{number}">申请 {number}</a>(待审核)' in me
    assert "最高可得 150,000.00 元" in me and "同一事项不能重复申请" in me and "申请新的事项" in me


def test_hostile_rules_ids_and_files(ledger, tmp_path):
    sign_in(ledger, "qiye")
    unknown = ledger.client.get("/me/apply", params={"rule": "no-such-rule"})
    assert unknown.status_code == 404 and "no-such-rule" in unknown.text
    hostile = ledger.client.get("/me/apply", params={"rule": "x'\"><b>[1]"})
    assert hostile.status_code == 404 and "<b>" not in hostile.text
    posted = submit(ledger, "/me/profile", "/me/apply", {"rule": "x'\"]", "date": "2025-03-01"})
    assert posted.status_code == 404
    wrong_kind = ledger.client.get("/me/apply", params={"rule": "incubator-national"})
    assert wrong_kind.status_code == 422 and "孵化载体运营主体" in wrong_kind.text
    for number in ("1'", "[1]", "1%22%3E", "99999999999", "-1"):
        assert ledger.client.get(f"/me/applications/{number}").status_code == 404, number
    # An executable renamed .pdf is refused by its content; the form keeps what was typed.
    exe = apply_voucher(ledger, "300000", [("files", ("发票.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "application/pdf"))])
    assert exe.status_code == 422 and "内容不是 .pdf" in exe.text and 'value="300000"' in exe.text
    stored = tmp_path / "files"
    assert not stored.exists() or not [path for path in stored.rglob("*") if path.is_file()], "a refused file was stored"
    named = apply_voucher(ledger, "300000", [("files", ("setup.exe", b"MZ\x90\x00", "application/octet-stream"))])
    assert named.status_code == 422 and "附件须为" in named.text
    # 20 MB: refused before it is read, with a page (not JSON).
    twenty_mb = b"%PDF-" + b"0" * (20 * 1024 * 1024)
    big = apply_voucher(ledger, "300000", [("files", ("scan.pdf", twenty_mb, "application/pdf"))])
    assert big.status_code == 413 and "最多 10 MB" in big.text and big.headers["content-type"].startswith("text/html")
    bad_fee = apply_voucher(ledger, "三十万元整")
    assert bad_fee.status_code == 422 and "实际发生服务费用" in bad_fee.text and "请重新选择附件" in bad_fee.text
    assert count(ledger, t.Application) == 0 and count(ledger, t.Attachment) == 0


def test_another_subjects_application_is_not_found(ledger):
    sign_in(ledger, "qiye")
    number = applied(ledger)
    sign_in(ledger, "yiqi")
    assert ledger.client.get(f"/me/applications/{number}").status_code == 404
    withdraw = submit(ledger, "/me/applications", f"/me/applications/{number}/withdraw", {})
    assert withdraw.status_code == 404
    assert "湖州甲" not in ledger.client.get("/me/applications").text
    with transaction(ledger.state.factory) as session:
        assert session.get(t.Application, number).status == "submitted"


def steps_of(page: str) -> list[str]:
    """The history of an application page, each step without its time."""
    listed = re.search(r'<ol class="steps">(.*?)</ol>', page, re.S).group(1)
    items = re.findall(r'<li><span class="when">[^<]*</span>(.*?)</li>', listed, re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item))).strip() for item in items]


def test_returned_resubmitted_and_withdrawn(ledger):
    sign_in(ledger, "qiye")
    number = applied(ledger)
    returned = ledger.post("kejiju", f"/api/v1/applications/{number}/decision",
                           {"decision": "return", "reason": "请补充服务合同与发票"})
    assert returned.status_code == 200, returned.text
    page = f"/me/applications/{number}"
    detail = ledger.client.get(page).text
    assert "退回补正" in detail and "请补充服务合同与发票" in detail and "重新提交" in detail
    # Resubmitted with 90,000 元 of fees: 90,000 × 50% = 45,000.
    again = submit(ledger, page, f"{page}/resubmit", {"date": "2025-03-01", "service_fee": "90000"},
                   [("files", ("合同.pdf", PDF + b"contract", "application/pdf"))])
    assert (again.status_code, again.headers["location"]) == (303, page), again.text
    detail = ledger.client.get(page).text
    assert "待审核" in detail and "45,000.00 元" in detail and "合同.pdf" in detail
    # The return stays in the history after the resubmission that answered it (the row keeps only the last).
    assert steps_of(detail) == ["提交申请", "退回补正 · 请补充服务合同与发票", "补正后重新提交"]
    gone = submit(ledger, page, f"{page}/withdraw", {})
    assert gone.status_code == 303
    assert steps_of(ledger.client.get(page).text) == [
        "提交申请", "退回补正 · 请补充服务合同与发票", "补正后重新提交", "已撤回"]
    late = submit(ledger, page, f"{page}/withdraw", {})
    assert late.status_code == 409 and "不能撤回" in late.text


# --------------------------------------------------------------------------- 公示, payment, objections


def approve(ledger, number: int, amount: str) -> dict:
    decided = ledger.post("kejiju", f"/api/v1/applications/{number}/decision",
                          {"decision": "approve", "amount": amount, "reason": "按核定服务费"})
    assert decided.status_code == 200, decided.text
    return decided.json()["award"]


def test_publicity_then_paid_shows_cashed(ledger):
    sign_in(ledger, "qiye")
    number = applied(ledger)
    award = approve(ledger, number, "120000")  # within 最高 150,000
    until = dt.date.fromisoformat(award["publicity_until"])
    public = ledger.client.__class__(ledger.client.app)  # no cookie: the list is public
    try:
        listing = public.get("/publicity")
        assert listing.status_code == 200
        row = listing.text[listing.text.index("湖州甲科技有限公司"):]
        row = row[:row.index("</tr>")]
        for cell in (A, "创新券补助", "120,000.00", "市科技局", until.isoformat(), "公示中"):
            assert cell in row, cell
        assert "湖州甲科技有限公司" not in public.get("/publicity", params={"department": "市商务局"}).text
        hostile = public.get("/publicity", params={"department": "<script>'"})
        assert hostile.status_code == 200 and "<script>'" not in hostile.text
    finally:
        public.close()
    detail = ledger.client.get(f"/me/applications/{number}").text
    assert "公示中" in detail and f"公示至 {until.isoformat()}" in detail and "120,000.00 元" in detail
    with transaction(ledger.state.factory) as session:
        finance = actor_of(session.scalar(select(t.User).where(t.User.username == "finance")))
        batch = make_batch(session, finance, today=until + dt.timedelta(days=1))
        payment = session.scalars(select(t.Payment).where(t.Payment.batch_id == batch.id)).one()
        mark(session, finance, payment.id, True)
    listing = ledger.client.get("/me/applications").text
    assert "已兑现" in listing and "120,000.00" in listing
    detail = ledger.client.get(f"/me/applications/{number}").text
    assert "已兑现" in detail and "已拨付 120,000.00 元" in detail and f"进入拨付批次 {batch.id}" in detail


def test_publicity_comes_in_pages_with_the_filter_kept(ledger, monkeypatch):
    """Two awards on 公示 (甲 then 乙, both 市科技局's, listed by department then id), one a page."""
    sign_in(ledger, "qiye")
    first = approve(ledger, applied(ledger), "120000")
    sign_in(ledger, "yiqi")
    second = approve(ledger, applied(ledger), "150000")
    with transaction(ledger.state.factory) as session:  # the export's call: every row, no page
        assert [award.id for award, _ in review.publicity(session)] == [first["id"], second["id"]]
        assert [award.id for award, _ in review.publicity(session, "市科技局", limit=1, offset=1)] == [second["id"]]
        assert review.publicity(session, "市商务局", limit=1) == []
    monkeypatch.setattr(self_pages, "PUBLICITY_PAGE", 1)
    one = ledger.client.get("/publicity", params={"department": "市科技局"})
    assert one.status_code == 200 and "湖州甲科技有限公司" in one.text and "湖州乙科技有限公司" not in one.text
    following = re.search(r'<a href="([^"]+)" rel="next">', one.text).group(1).replace("&amp;", "&")
    assert following == "/publicity?department=%E5%B8%82%E7%A7%91%E6%8A%80%E5%B1%80&page=2"
    assert 'rel="prev"' not in one.text
    two = ledger.client.get(following)
    assert two.status_code == 200 and "湖州乙科技有限公司" in two.text and "湖州甲科技有限公司" not in two.text
    assert "150,000.00" in two.text and 'rel="next"' not in two.text
    assert 'href="/publicity?department=%E5%B8%82%E7%A7%91%E6%8A%80%E5%B1%80&amp;page=1" rel="prev"' in two.text
    for page in ("3", "0", "x", "1'", "9999999"):
        assert ledger.client.get("/publicity", params={"page": page}).status_code == 404, page
    monkeypatch.setattr(self_pages, "PUBLICITY_PAGE", 100)
    whole = ledger.client.get("/publicity").text
    assert "湖州甲科技有限公司" in whole and "湖州乙科技有限公司" in whole and 'rel="next"' not in whole


def test_an_objection_needs_a_signed_in_user_and_holds_the_award(ledger):
    sign_in(ledger, "qiye")
    award = approve(ledger, applied(ledger), "150000")
    ledger.client.post("/logout", data=guard(ledger.client.get("/me").text))
    form = f"/publicity/{award['id']}/objection"
    anonymous = ledger.client.get(form, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    sign_in(ledger, "yiqi")
    assert ledger.client.get("/publicity/99999/objection").status_code == 404
    assert ledger.client.get("/publicity/1'/objection").status_code == 404
    empty = submit(ledger, form, form, {"text": "  "})
    assert empty.status_code == 422 and "异议理由" in empty.text
    raised = submit(ledger, form, form, {"text": "该企业服务费发票重复使用"})
    assert (raised.status_code, raised.headers["location"]) == (303, "/publicity?objected=1")
    with transaction(ledger.state.factory) as session:
        assert session.get(t.Award, award["id"]).status == "held"
        assert session.scalars(select(t.Objection)).one().text == "该企业服务费发票重复使用"
    assert "异议暂停" in ledger.client.get("/publicity").text


def test_a_by_measure_claim_and_the_traditional_script(ledger):
    sign_in(ledger, "qiye")
    # 實施核心技術"揭榜掛帥"項目: no amount in this document; the department's measure sets it.
    answer = submit(ledger, "/me/apply?rule=jiebang-guashuai", "/me/apply",
                    {"rule": "jiebang-guashuai", "date": "2025-03-01"})
    assert answer.status_code == 303, answer.text
    detail = ledger.client.get(answer.headers["location"]).text
    assert "按配套政策核定" in detail and "待审核" in detail
    traditional = ledger.client.get("/me/applications", params={"lang": "zh-Hant"}).text
    assert "我的申報" in traditional and "待審核" in traditional
    page = ledger.client.get("/me", params={"lang": "zh-Hant"}).text
    assert "湖州甲科技有限公司" in page and "可以申請的政策" in page
    # a clause is quoted as the document writes it in Traditional, and in Simplified when the page is
    assert "实施核心技术“揭榜挂帅”项目" in detail
    assert "實施核心技術“揭榜掛帥”項目" in ledger.client.get(answer.headers["location"], params={"lang": "zh-Hant"}).text
    assert "實施核心技術“揭榜掛帥”項目" in ledger.client.get("/me/apply?rule=jiebang-guashuai&lang=zh-Hant").text


def test_a_residents_identity_number_is_masked_on_its_own_page(ledger):
    person = "33050219900101123" + id_number_check("33050219900101123")  # GB 11643 check digit
    ledger.subject(person, kind="resident", name="张三", county="吴兴区")
    ledger.user("jumin", Role.APPLICANT, subject_id=person)
    sign_in(ledger, "jumin")
    page = ledger.client.get("/me").text
    assert "张三" in page and mask_identity(person) in page and person not in page
    assert mask_identity(person) != person
