"""Money as a Chinese user writes it (zhida.engine.money_text): 300,000, 30万, 0.3亿 read exactly,
anything else refused in one sentence naming the field, the same way in the case reader, the API
(422), `zhida calc` (exit code 2) and the ledger's amounts."""

from __future__ import annotations

import json
import re
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from zhida.cli import app as cli
from zhida.engine.case import case_from_data, load_case
from zhida.engine.money_text import (
    MONEY_SCHEMA_PATTERN,
    MoneyError,
    amount_text,
    describe,
    parse_money,
    read_money,
)
from zhida.ledger.access import Refused
from zhida.rules.pack import load_pack
from zhida.web.access import money
from zhida.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
FEE = "事件 v1 的字段 service_fee(实际发生服务费用)"
runner = CliRunner()


# --------------------------------------------------------------------------- what is read


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        ("300000", "300000.00"),
        ("300000.5", "300000.50"),
        ("300,000", "300000.00"),
        ("1,000,000.50", "1000000.50"),
        ("30万", "300000.00"),
        ("30萬", "300000.00"),
        ("30 万元", "300000.00"),
        ("30万元", "300000.00"),
        ("30\u3000万", "300000.00"),  # the space a Chinese input method types
        ("0.3亿", "30000000.00"),
        ("0.3億", "30000000.00"),
        ("1.5亿元", "150000000.00"),
        ("300000元", "300000.00"),
        ("300,000.00 元", "300000.00"),
        ("1,200万", "12000000.00"),
        ("30.123456万", "301234.56"),  # six decimals of 万 are two of 元
        ("0.0000000001亿", "0.01"),
        ("99999999999.999999万", "999999999999999.99"),  # the largest amount, written in 万
        (" 8000 ", "8000.00"),
        ("-0", "0.00"),
        ("-0万", "0.00"),
        ("0", "0.00"),
    ],
)
def test_read(text, yuan):
    value = read_money(text, "服务费")
    assert value == Decimal(yuan) and str(value) == yuan  # two decimals, never -0.00


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1e27", ["服务费:无法识别的金额 “1e27”", "不接受科学计数法", "超出上限", "可写成 300000、300,000、30万 或 0.3亿"]),
        ("1e3", ["服务费:无法识别的金额 “1e3”", "如 1e3 请写作 1000"]),
        ("abc", ["服务费:无法识别的金额 “abc”,须为数字;可写成"]),
        ("30w", ["无法识别的金额 “30w”"]),
        ("八万", ["无法识别的金额 “八万”"]),
        ("-5", ["服务费:不能为负数,收到 “-5”"]),
        ("-30万", ["不能为负数"]),
        ("1,0,0", ["千位分隔符须每三位一个"]),
        ("1000,000", ["千位分隔符须每三位一个"]),
        ("１２３", ["须使用半角数字 0-9"]),
        ("1_000", ["不接受下划线分隔"]),
        ("012", ["不能以 0 开头"]),
        ("100.001", ["金额最多精确到分"]),
        ("30.1234567万", ["金额最多精确到分(两位小数;30.1234567万 即 301,234.567 元)"]),
        ("1000000000000000", ["超出上限:金额须小于 10^15 元(至多 999999999999999.99 元)"]),
        ("100000000000万", ["超出上限"]),  # 10^15 元
        ("10000000亿", ["超出上限"]),
        ("30万万", ["无法识别的金额"]),
        ("元", ["无法识别的金额"]),
        ("30元万", ["无法识别的金额"]),
        ("", ["服务费:请填写金额"]),
        ("9" * 5000, ["超出上限", "(共 5000 个字符)"]),
    ],
)
def test_refused(text, words):
    with pytest.raises(MoneyError) as error:
        read_money(text, "服务费")
    message = str(error.value)
    for word in words:
        assert word in message, message
    assert len(message) < 200 and "\n" not in message  # one sentence, never the whole input


def test_not_text_is_refused():
    with pytest.raises(MoneyError, match="服务费:须为金额文字"):
        read_money(300000, "服务费")  # type: ignore[arg-type]


def test_parse_keeps_the_digits_as_written():
    # The case reader keeps its numbers as written: 30万 is the same Decimal as 300000.
    assert parse_money("30万") == parse_money("300000") and str(parse_money("30万")) == "300000"
    assert str(parse_money("1,000.5")) == "1000.5"


def test_describe_and_amount_text():
    assert describe(Decimal("300000")) == "300,000.00 元(30 万元)"
    assert describe(Decimal("1234567.8")) == "1,234,567.80 元(123.45678 万元)"
    assert describe(Decimal("30000000")) == "30,000,000.00 元(3,000 万元)"
    assert describe(Decimal("0")) == "0.00 元(0 万元)"
    assert amount_text(Decimal("899.9985")) == "899.9985"  # every digit, as a cap saw it
    assert amount_text(Decimal("1.5E+5")) == "150,000.00"
    assert amount_text(Decimal("-0.00")) == "0.00"


# --------------------------------------------------------------------------- properties

CENTS = st.integers(min_value=0, max_value=10**17 - 1).map(lambda cents: Decimal(cents).scaleb(-2))


def _wan(value: Decimal) -> str:
    return f"{value.scaleb(-4).normalize():f}万"


def _yi(value: Decimal) -> str:
    return f"{value.scaleb(-8).normalize():f}亿元"


@given(CENTS, st.sampled_from([lambda v: f"{v:f}", lambda v: f"{v:,f}", lambda v: f"{v:,.2f} 元", _wan, _yi]))
def test_every_form_reads_back_its_value(value, form):
    assert read_money(form(value), "服务费") == value


@given(CENTS)
def test_the_read_back_reads_back(value):
    shown = describe(value)
    yuan, wan = re.fullmatch(r"(.*) 元\((.*) 万元\)", shown).groups()
    assert read_money(yuan, "x") == value and read_money(f"{wan}万", "x") == value


@given(st.from_regex(MONEY_SCHEMA_PATTERN, fullmatch=True))
def test_the_schema_pattern_promises_only_what_is_read(text):
    assert parse_money(text) < Decimal(10) ** 15


@given(st.text(max_size=30))
def test_any_text_is_an_amount_or_one_message(text):
    try:
        value = read_money(text, "服务费")
    except MoneyError as error:
        assert str(error).startswith("服务费:")
    else:
        assert Decimal(0) <= value < Decimal(10) ** 15 and value == value.quantize(Decimal("0.01"))


# --------------------------------------------------------------------------- one rule everywhere


def voucher(fee: str) -> dict:
    """按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元 (第三條)."""
    event = {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": fee}
    return {"subject": {"id": "E1", "kind": "enterprise"}, "events": [event]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(PACK)) as client:
        yield client


def test_the_api_reads_30_wan_as_300000(client):
    # 50% × 300000 = 150000, under the 20萬元 a year
    for fee in ("30万", "300,000", "300000", "0.003亿元"):
        response = client.post("/api/v1/calculate", json=voucher(fee))
        assert response.status_code == 200, response.text
        assert response.json()["entitlements"][0]["amount"] == "150000.00"


def test_the_api_refuses_1e27_naming_the_field(client):
    response = client.post("/api/v1/calculate", json=voucher("1e27"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"{FEE}: 无法识别的金额 '1e27'" in detail and "可写成 300000、300,000、30万 或 0.3亿" in detail


def test_zhida_calc_reads_30_wan_and_refuses_1e27(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("subject: {id: E1, kind: enterprise}\nevents:\n"
                    "  - {id: v1, type: innovation_voucher, date: 2025-03-01, service_fee: 30万}\n", encoding="utf-8")
    result = runner.invoke(cli, ["calc", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entitlements"][0]["amount"] == "150000.00"
    path.write_text(path.read_text(encoding="utf-8").replace("30万", "1e27"), encoding="utf-8")
    result = runner.invoke(cli, ["calc", str(path)])
    assert result.exit_code == 2
    assert f"{FEE}: 无法识别的金额 '1e27'" in result.output and "Traceback" not in result.output


def test_a_date_that_does_not_exist_in_yaml(tmp_path):
    # YAML 1.1 reads 2025-02-30 as a timestamp and PyYAML would raise while constructing it; the case
    # loader keeps it as text, so the field that names it refuses it.
    path = tmp_path / "case.yaml"
    path.write_text("subject: {id: E1, kind: enterprise}\nevents:\n"
                    "  - id: v1\n    type: innovation_voucher\n    date: 2025-02-30\n    service_fee: 30万\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="事件 v1 的字段 date: 日期格式须为 YYYY-MM-DD,且须为存在的日期,收到 '2025-02-30'"):
        load_case(path, PACK)
    result = runner.invoke(cli, ["calc", str(path)])
    assert result.exit_code == 2, result.output
    assert "事件 v1 的字段 date" in result.output and "2025-02-30" in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_the_case_reader_gives_the_same_value_for_every_form():
    forms = ("30万", "300,000", "30萬元")
    values = {fee: case_from_data(voucher(fee), PACK).events[0].values["service_fee"] for fee in forms}
    assert set(values.values()) == {Decimal("300000")}


def test_the_ledger_s_amounts_read_the_same_way():
    assert money("30万", "amount") == Decimal("300000.00")
    assert money("300,000.5", "amount") == Decimal("300000.50")
    with pytest.raises(Refused) as refused:
        money("1e27", "amount")
    assert refused.value.status == 422 and refused.value.message.startswith("amount:无法识别的金额 “1e27”")
