"""Hostile cases: numbers, dates and text the case format does not allow.

Each input goes three ways and is refused the same way every time, with one message naming the
case, the event and the field: `read_case_json` + `case_from_data` (a ValueError), POST
/api/v1/calculate (422, never 500) and `zhida calc` on a file (exit code 2, no traceback).
The grammar is policies/huzhou-2025/README.md's "A case".
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zhida.cli import app as cli
from zhida.engine.calculate import calculate
from zhida.engine.case import MONEY_SCHEMA_PATTERN, CaseError, case_from_data, load_case, read_case_json
from zhida.engine.output import result_to_dict
from zhida.rules.model import EventField, EventType, FieldType
from zhida.rules.pack import load_pack
from zhida.web.app import create_default_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
runner = CliRunner()
FEE = "事件 v1 的字段 service_fee(实际发生服务费用)"
NEGATIVE_ZERO = re.compile(r"(?<![0-9])-0(\.0*)?(?![0-9])")  # -0, -0.00; not the -03 of 2025-03-01
OVER = "超出上限:金额须小于 10^15 元(至多 999999999999999.99 元)"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # the default app opens ./zhida.db (seeding the demo on a fresh one): here, in a folder of the test's own
    folder = tmp_path_factory.mktemp("default-app")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("DATABASE_URL", raising=False)
        patch.setenv("ZHIDA_DEMO", "0")
        app = create_default_app()
    with TestClient(app) as client:
        yield client
    app.state.ledger.factory.kw["bind"].dispose()


def voucher(fee: str, **fields: str) -> str:
    """A case as JSON text, with `fee` (JSON text) as the service fee; 按實際發生服務費用給予最高50%比例的補助."""
    event = {"id": '"v1"', "type": '"innovation_voucher"', "date": '"2025-03-01"', "service_fee": fee, **fields}
    members = ", ".join(f'"{key}": {value}' for key, value in event.items())
    return '{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{%s}]}' % members


def case_json(data: dict[str, Any]) -> str:
    return json.dumps(data)  # ensure_ascii: a lone surrogate travels as the escape \ud800


def post(client, body: str):
    return client.post("/api/v1/calculate", content=body.encode("utf-8"), headers={"content-type": "application/json"})


def calc_file(tmp_path: Path, text: str, name: str = "case.json"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return runner.invoke(cli, ["calc", str(path), "--json"])


def refused(client, tmp_path: Path, body: str, *words: str) -> None:
    """The JSON case `body` is refused, naming `words`, by the reader, the API and `zhida calc`."""
    with pytest.raises(ValueError) as error:
        case_from_data(read_case_json(body.encode("utf-8")), PACK, "案例")
    for word in words:
        assert word in str(error.value), str(error.value)
    response = post(client, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail == str(error.value)
    result = calc_file(tmp_path, body)
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output, result.output
    assert "Traceback" not in result.output and "entitlements" not in result.output


def refused_yaml(tmp_path: Path, text: str, *words: str) -> None:
    """The YAML case `text` is refused by `load_case` and by `zhida calc` (exit code 2), naming `words`."""
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_case(path, PACK)
    for word in words:
        assert word in str(error.value), str(error.value)
    result = runner.invoke(cli, ["calc", str(path)])
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output, result.output
    assert "Traceback" not in result.output


def yaml_voucher(fee: str, date: str = "2025-03-01") -> str:
    return f"subject: {{id: E1, kind: enterprise}}\nevents:\n  - {{id: v1, type: innovation_voucher, date: {date}, service_fee: {fee}}}\n"


def paid(body: str) -> dict[str, Any]:
    """The result of an accepted JSON case, as the API prints it."""
    case = case_from_data(read_case_json(body.encode("utf-8")), PACK, "案例")
    return result_to_dict(PACK, calculate(PACK, case))


# --------------------------------------------------------------------------- the maximum


def test_money_of_1e26_is_above_the_maximum(client, tmp_path):
    refused(client, tmp_path, voucher("1e26"), FEE, OVER, "不接受科学计数法")


def test_money_of_1e400_is_above_the_maximum(client, tmp_path):
    refused(client, tmp_path, voucher("1e400"), FEE, OVER, "'1e400'")


def test_a_5000_digit_integer_is_above_the_maximum(client, tmp_path):
    # json.loads would stop at Python's 4300-digit limit before any field could be named
    refused(client, tmp_path, voucher("9" * 5000), FEE, OVER, "(共 5000 个字符)")


def test_a_5000_digit_decimal_string_is_above_the_maximum(client, tmp_path):
    refused(client, tmp_path, voucher('"%s.25"' % ("1" * 5000)), FEE, OVER)


def test_the_maximum_itself_is_kept_exactly(client):
    # 符合條件的軟件企業享受所得稅“兩免三減半”: year 1 saves the whole 25%.
    # 0.25 × 999999999999999.97 = 249999999999999.9925 -> 249999999999999.99; through a float the
    # income would be 1000000000000000.0 and the saving 250000000000000.00.
    body = (
        '{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "t1", "type": "software_income_tax",'
        ' "date": "2025-05-31", "status": "符合条件的软件企业", "taxable_income": 999999999999999.97, "tax_year": 2025,'
        ' "profit_year": 1}]}'
    )
    response = post(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["entitlements"][0]["amount"] == "249999999999999.99"
    over = body.replace("999999999999999.97", "1000000000000000")
    response = post(client, over)
    assert response.status_code == 422 and OVER in response.json()["detail"]
    assert "事件 t1 的字段 taxable_income(应纳税所得额)" in response.json()["detail"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_numbers(client, tmp_path, constant):
    refused(client, tmp_path, voucher(constant), FEE, "须为数字", constant)


def test_integer_fields_are_bounded(client, tmp_path):
    # 獲得中國專利獎金獎的,每件獎勵30萬元: 999999999 patents is the most a case may claim.
    def patents(count: str) -> str:
        return (
            '{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "p1", "type": "patent_award",'
            ' "date": "2025-05-01", "medal": "金奖", "patents": %s, "first_inventor_unit": true}]}' % count
        )

    assert paid(patents("999999999"))["entitlements"][0]["amount"] == "299999999700000.00"
    field = "事件 p1 的字段 patents(获奖专利件数)"
    refused(client, tmp_path, patents("1000000000"), field, "超出上限:须小于 10^9")
    refused(client, tmp_path, patents("9" * 5000), field, "超出上限")
    refused(client, tmp_path, patents("2.0"), field, "须为整数")
    refused(client, tmp_path, patents('"1e3"'), field, "不接受科学计数法")
    refused(client, tmp_path, patents("0"), field, "不能小于 1")


# --------------------------------------------------------------------------- what the grammar refuses


def test_full_width_digits_in_a_json_number(client, tmp_path):
    # Python's json reads \d-matching digits only where its C scanner allows: ASCII. Either way, refused.
    refused(client, tmp_path, voucher("１２３"), "第 1 行第", "半角数字")


@pytest.mark.parametrize("digits", ["１２３", "٣٠٠", "१२३", "1２3", "１,０００"])
def test_non_ascii_digits_in_a_money_string(client, tmp_path, digits):
    refused(client, tmp_path, voucher(json.dumps(digits)), FEE, "须使用半角数字 0-9")


def test_non_ascii_digits_in_yaml(tmp_path):
    refused_yaml(tmp_path, yaml_voucher("１２３"), FEE, "须使用半角数字 0-9")


def test_underscores_are_not_thousands_separators(client, tmp_path):
    # YAML 1.1 reads 1_000 as 1000; a case does not.
    refused(client, tmp_path, voucher('"1_000"'), FEE, "不接受下划线分隔", "'1_000'")
    refused_yaml(tmp_path, yaml_voucher("1_000"), FEE, "不接受下划线分隔")


@pytest.mark.parametrize("text", ["1,0,0", "1,00", ",100", "1000,000", "1,000.5,0", "1,,000", "1,000,"])
def test_misplaced_thousands_separators(client, tmp_path, text):
    refused(client, tmp_path, voucher(json.dumps(text)), FEE, "须为数字", repr(text))


def test_well_formed_thousands_separators(client):
    # 最高50%: 0.5 × 1000000.50 = 500000.25, then 單個企業全年最高補助20萬元
    data = paid(voucher('"1,000,000.50"'))
    assert data["entitlements"][0]["amount"] == "200000.00"
    assert "  实际发生服务费用 = 1,000,000.50 元" in data["entitlements"][0]["trace"]  # by its title, thousands separated
    assert paid(voucher('"1,000.50"'))["entitlements"][0]["amount"] == "500.25"


@pytest.mark.parametrize("zero", ["-0", "-0.0", '"-0"', '"-0.00"'])
def test_negative_zero_reads_as_zero_and_is_never_printed(client, tmp_path, zero):
    data = paid(voucher(zero))
    assert data["entitlements"][0]["amount"] == "0.00" and data["total"] == "0.00"
    assert data["entitlements"][0]["trace"][1] == "  实际发生服务费用 = 0.00 元"
    response = post(client, voucher(zero))
    assert response.status_code == 200 and not NEGATIVE_ZERO.search(response.text)
    result = calc_file(tmp_path, voucher(zero))
    assert result.exit_code == 0 and not NEGATIVE_ZERO.search(result.output)
    table = runner.invoke(cli, ["calc", str(tmp_path / "case.json")])
    assert "最高可得 0.00 元" in table.output and not NEGATIVE_ZERO.search(table.output)


def test_negative_money_is_refused(client, tmp_path):
    refused(client, tmp_path, voucher("-0.01"), FEE, "不能为负数")
    refused(client, tmp_path, voucher('"-1,000"'), FEE, "不能为负数")


@pytest.mark.parametrize("text", ["1e3", '"1e3"', "1E2", "1.5e2", '"2.5E+3"', "0e0"])
def test_exponent_notation_is_refused(client, tmp_path, text):
    refused(client, tmp_path, voucher(text), FEE, "不接受科学计数法")


def test_exponent_notation_in_yaml_is_refused(tmp_path):
    refused_yaml(tmp_path, yaml_voucher("1e3"), FEE, "不接受科学计数法")


@pytest.mark.parametrize("text", ['"012"', '"00.5"', '"+5"', '"5 000"', '"100千元"', '"0x10"', '".5"', '"5."', '"元"', '"万"'])
def test_other_spellings_of_numbers_are_refused(client, tmp_path, text):
    refused(client, tmp_path, voucher(text), FEE, "须为数字")


def test_leading_zero_is_not_octal(tmp_path):
    # YAML 1.1 reads 012 as 10
    refused_yaml(tmp_path, yaml_voucher("012"), FEE, "不能以 0 开头")


def test_money_has_at_most_two_decimals(client, tmp_path):
    refused(client, tmp_path, voucher("100.001"), FEE, "金额最多精确到分")


def test_number_fields_have_their_own_bounds():
    # No event of the Huzhou pack has a `number` field; a pack with one: below 10^12, six decimals.
    area = EventField(name="area", type=FieldType.NUMBER, title="面积", unit="平方米", minimum=Decimal("0.5"))
    pack = dataclasses.replace(
        PACK, events={"site": EventType(name="site", title="场地", subjects=("enterprise",), fields=(area,))}
    )

    def read(value: Any) -> Any:
        data = {"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "s1", "type": "site", "date": "2025-05-01", "area": value}]}
        return case_from_data(data, pack, "案例").events[0].values["area"]

    assert read("999999999999.123456") == Decimal("999999999999.123456")
    assert read(Decimal("0.5")) == Decimal("0.5")
    for value, words in [
        ("1000000000000", "超出上限:须小于 10^12"),
        ("1.1234567", "最多 6 位小数"),
        ("0.4", "不能小于 0.5"),
        (float("nan"), "须为有限的数字"),
        (Decimal("1e400"), "超出上限"),
        (10**5000, "约 5001 位的整数"),
    ]:
        with pytest.raises(CaseError) as error:
            read(value)
        assert "事件 s1 的字段 area(面积)" in str(error.value) and words in str(error.value)


@pytest.mark.parametrize("value", ["1", "0", '"true"', '"yes"', "null", "[]"])
def test_a_flag_is_true_or_false(client, tmp_path, value):
    body = ('{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "p1", "type": "patent_award",'
            ' "date": "2025-05-01", "medal": "金奖", "patents": 1, "first_inventor_unit": %s}]}' % value)
    words = ["缺少字段 first_inventor_unit"] if value == "null" else ["事件 p1 的字段 first_inventor_unit", "须为 true 或 false"]
    refused(client, tmp_path, body, *words)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(MONEY_SCHEMA_PATTERN, fullmatch=True))
def test_the_schema_pattern_for_money_is_the_reader_s(text):
    # The API's OpenAPI document may quote this pattern: what it allows, the reader accepts.
    assert paid(voucher(json.dumps(text)))["entitlements"][0]["amount"] is not None


@pytest.mark.parametrize("text", ["1_000", "1,0,0", "012", "1e3", "-1", "１２３", "1000000000000000", "1.001", ".5"])
def test_the_schema_pattern_refuses_what_the_reader_refuses(text):
    assert not re.fullmatch(MONEY_SCHEMA_PATTERN, text)


@pytest.mark.parametrize("value", ["true", "false"])
def test_booleans_where_a_number_belongs(client, tmp_path, value):
    refused(client, tmp_path, voucher(value), FEE, "须为数字", f"收到 {value}")


@pytest.mark.parametrize(
    "date, shown",
    [
        ('"20250501"', "'20250501'"),  # dt.date.fromisoformat in 3.11 reads it as 2025-05-01
        ('"2025-W18-4"', "'2025-W18-4'"),  # and this one as well
        ('"2025-5-1"', "'2025-5-1'"),
        ('"2025/05/01"', "'2025/05/01'"),
        ('"2025-05-01T00:00"', "'2025-05-01T00:00'"),
        ('"２０２５-05-01"', "'２０２５-05-01'"),
        ("20250501", "20250501"),
        ("null", "缺少字段 date"),
        ('["2025-05-01"]', "列表(共 1 项)"),
    ],
)
def test_dates_that_are_not_yyyy_mm_dd(client, tmp_path, date, shown):
    words = ["事件 v1", shown] if date == "null" else ["事件 v1 的字段 date: 日期格式须为 YYYY-MM-DD", shown]
    refused(client, tmp_path, voucher("100", date=date), *words)


def test_a_date_that_does_not_exist(client, tmp_path):
    refused(client, tmp_path, voucher("100", date='"2025-02-30"'), "事件 v1 的字段 date", "须为存在的日期", "2025-02-30")


def test_an_unquoted_yaml_date_that_does_not_exist(tmp_path):
    # yaml.safe_load raises a bare ValueError (day is out of range for month) on this
    refused_yaml(tmp_path, yaml_voucher("100", date="2025-02-30"), "事件 v1 的字段 date", "须为存在的日期")
    refused_yaml(tmp_path, yaml_voucher("100", date="20250501"), "事件 v1 的字段 date", "YYYY-MM-DD")


@pytest.mark.parametrize(
    "data, words",
    [
        ({"subject": {"id": ["E1"], "kind": "enterprise"}, "events": []}, ["subject.id", "须为文字", "列表"]),
        ({"subject": {"id": "E1", "kind": ["enterprise"]}, "events": []}, ["subject.kind", "须为文字"]),
        ({"subject": {"id": "E1", "kind": {"a": 1}}, "events": []}, ["subject.kind", "对象"]),
        ({"subject": {"id": "E1", "kind": "enterprise", "name": [1]}, "events": []}, ["subject.name", "须为文字"]),
        ({"name": {"x": 1}, "subject": {"id": "E1", "kind": "enterprise"}, "events": []}, ["name(案例名称)", "须为文字"]),
        (
            {"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": {"a": 1}, "type": "innovation_voucher"}]},
            ["第 1 个事件的字段 id", "须为文字"],
        ),
        (
            {"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "v1", "type": ["innovation_voucher"]}]},
            ["事件 v1 的字段 type", "须为文字"],
        ),
        (
            {"subject": {"id": "I1", "kind": "incubator"}, "events": [{"id": "c1", "type": "incubation_cultivation",
             "date": "2025-05-01", "carrier": ["载体"], "firm_type": "省级科技型中小企业", "in_incubation": True}]},
            ["事件 c1 的字段 carrier(孵化载体名称)", "须为文字"],
        ),
        ({"subject": {"id": "E1", "kind": "enterprise"}, "events": {"v1": {}}}, ["events 须为事件列表"]),
        ({"subject": {"id": "E1", "kind": "enterprise"}, "events": ["v1"]}, ["第 1 个事件: 须为一个对象"]),
    ],
)
def test_lists_or_objects_where_a_word_belongs(client, tmp_path, data, words):
    refused(client, tmp_path, case_json(data), *words)


SURROGATE_POSITIONS = {
    "case-name": ({"name": "\ud800"}, "name(案例名称)"),
    "subject-id": ({"subject": {"id": "E\ud800", "kind": "enterprise"}}, "subject.id"),
    "subject-name": ({"subject": {"id": "E1", "kind": "enterprise", "name": "\udfff"}}, "subject.name"),
    "subject-kind": ({"subject": {"id": "E1", "kind": "enterprise\ud800"}}, "subject.kind"),
    "event-id": ({"event": {"id": "v\ud800"}}, "第 1 个事件的字段 id"),
    "event-type": ({"event": {"type": "\ud800"}}, "事件 v1 的字段 type"),
    "money": ({"event": {"service_fee": "1\ud800"}}, FEE),
    "key": ({"event": {"\ud800": 1}}, "多余的字段 \\ud800"),
}


@pytest.mark.parametrize("position", SURROGATE_POSITIONS)
def test_lone_surrogates_anywhere(client, tmp_path, position):
    # A lone surrogate cannot be encoded as UTF-8: once, the response itself failed with a 500.
    change, where = SURROGATE_POSITIONS[position]
    data: dict[str, Any] = {"subject": {"id": "E1", "kind": "enterprise"},
                            "events": [{"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": 1}]}
    data.update({key: value for key, value in change.items() if key != "event"})
    data["events"][0].update(change.get("event", {}))
    words = [where] if position in ("key", "money") else [where, "孤立的代理项"]
    refused(client, tmp_path, case_json(data), *words)


def test_lone_surrogate_in_a_text_field(client, tmp_path):
    data = {"subject": {"id": "I1", "kind": "incubator"}, "events": [{"id": "c1", "type": "incubation_cultivation",
            "date": "2025-05-01", "carrier": "载体\ud83d", "firm_type": "省级科技型中小企业", "in_incubation": True}]}
    refused(client, tmp_path, case_json(data), "事件 c1 的字段 carrier(孵化载体名称)", "U+D83D")
    data["events"][0].update(carrier="载体", firm_type="\ud83d")
    refused(client, tmp_path, case_json(data), "事件 c1 的字段 firm_type(培育企业类别)", "U+D83D")


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\x7f", "\u202e", "\u2028", "\u0085"])
def test_control_characters_in_ids_are_refused(client, tmp_path, char):
    body = voucher("100", id=json.dumps(f"v{char}1"))
    refused(client, tmp_path, body, "第 1 个事件的字段 id", f"控制字符 U+{ord(char):04X}")
    subject = case_json({"subject": {"id": f"E{char}1", "kind": "enterprise"}, "events": []})
    refused(client, tmp_path, subject, "subject.id", f"控制字符 U+{ord(char):04X}")


def test_long_ids_and_names_are_bounded(client, tmp_path):
    assert paid(voucher("100", id=json.dumps("v" * 200)))["entitlements"][0]["event"] == "v" * 200
    refused(client, tmp_path, voucher("100", id=json.dumps("v" * 201)), "第 1 个事件的字段 id", "最多 200 个字符,收到 201")
    name = case_json({"subject": {"id": "E1", "kind": "enterprise", "name": "湖" * 5000}, "events": []})
    refused(client, tmp_path, name, "subject.name", "最多 200 个字符,收到 5000")
    title = case_json({"name": "案" * 201, "subject": {"id": "E1", "kind": "enterprise"}, "events": []})
    refused(client, tmp_path, title, "name(案例名称)", "最多 200 个字符")


def test_long_text_fields_are_bounded(client, tmp_path):
    data = {"subject": {"id": "I1", "kind": "incubator"}, "events": [{"id": "c1", "type": "incubation_cultivation",
            "date": "2025-05-01", "carrier": "载" * 100_000, "firm_type": "省级科技型中小企业", "in_incubation": True}]}
    refused(client, tmp_path, case_json(data), "事件 c1 的字段 carrier(孵化载体名称)", "最多 200 个字符,收到 100000")


def test_a_long_extra_field_name_is_shown_short(client, tmp_path):
    refused(client, tmp_path, voucher("100", **{"x" * 5000: "1"}), "事件 v1: 多余的字段")
    detail = post(client, voucher("100", **{"x" * 5000: "1"})).json()["detail"]
    assert len(detail) < 300


def test_repeated_keys_are_refused(client, tmp_path):
    body = voucher("100", service_fee="200")  # the same key twice: which one is meant?
    body = body.replace('"service_fee": 200', '"service_fee": 100, "service_fee": 200')
    refused(client, tmp_path, body, "字段 service_fee 重复出现")
    text = "subject: {id: E1, kind: enterprise}\nevents:\n  - {id: v1, type: innovation_voucher, date: 2025-03-01, service_fee: 1, service_fee: 2}\n"
    refused_yaml(tmp_path, text, "不是有效的 YAML 文件", "字段 service_fee 重复出现")


def test_yaml_yes_is_not_true(tmp_path):
    # YAML 1.1 reads yes/no/on/off as booleans; a flag is true or false.
    text = ("subject: {id: E1, kind: enterprise}\nevents:\n  - {id: p1, type: patent_award, date: 2025-05-01, medal: 金奖, "
            "patents: 1, first_inventor_unit: yes}\n")
    refused_yaml(tmp_path, text, "事件 p1 的字段 first_inventor_unit", "须为 true 或 false", "'yes'")


def test_deep_nesting_is_refused(client, tmp_path):
    body = voucher("[" * 100_000 + "]" * 100_000)
    response = post(client, body)
    assert response.status_code == 422 and "嵌套" in response.json()["detail"]
    refused_yaml(tmp_path, "[" * 5000 + "]" * 5000, "嵌套层数过多")


# --------------------------------------------------------------------------- what stays as it was


def test_traditional_choice_values_are_accepted():
    body = ('{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "h1", "type": "high_tech_recognition",'
            ' "date": "2025-05-01", "recognition": "首次認定"}]}')
    # 對首次認定的高新技術企業,每家給予最高20萬元獎勵
    assert paid(body)["entitlements"][0]["amount"] == "200000.00"


@pytest.mark.parametrize("fee", ["80000.01", '"80000.01"', '" 80000.01 "', '"80,000.01"'])
def test_money_is_exact_from_a_number_or_a_string(fee):
    # 最高50%: 0.5 × 80000.01 = 40000.005 -> 40000.01 half-up; through a float it would be 40000.00
    data = paid(voucher(fee))
    assert data["entitlements"][0]["amount"] == "40000.01"
    assert "四舍五入到分:40,000.005 → 40,000.01 元" in data["entitlements"][0]["trace"]


def test_yaml_numbers_and_ids_are_read_from_their_text(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text(
        "subject: {id: 007, kind: enterprise}\nevents:\n  - {id: 1, type: innovation_voucher, date: 2025-03-01, service_fee: 80000.01}\n",
        encoding="utf-8",
    )
    case = load_case(path, PACK)
    assert case.subject.id == "007"  # not the integer 7 (or the octal 7)
    assert case.events[0].id == "1" and case.events[0].values["service_fee"] == Decimal("80000.01")


# --------------------------------------------------------------------------- any value, anywhere


class Raw(str):
    """JSON text put into the body as it is (a number of any length, NaN)."""


NUMBER_TEXT = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?", fullmatch=True)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=10**15 - 2, max_value=10**15 + 2),
    st.builds(lambda n: Raw("9" * n), st.integers(min_value=1, max_value=6000)),
    NUMBER_TEXT.map(Raw),
    st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("-0"), Raw("-0.0")]),
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(["1,000.00", "1_000", "１２３", "2025-02-30", "20250501", "首次認定", "-0.00", "0", "1e3", "x" * 300]),
)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
BASES = [
    {
        "name": "基础案例",
        "subject": {"id": "E1", "kind": "enterprise", "name": "湖州某科技有限公司"},
        "events": [
            {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "300000"},
            {"id": "p1", "type": "patent_award", "date": "2025-05-01", "medal": "金奖", "patents": 2, "first_inventor_unit": True},
            {"id": "r1", "type": "rd_report", "date": "2025-06-01", "rd_expense": "5000000", "revenue": "100000000"},
            {"id": "t1", "type": "software_income_tax", "date": "2025-05-31", "status": "符合条件的软件企业",
             "taxable_income": "1000000.01", "tax_year": 2025, "profit_year": 3},
        ],
    },
    {
        "subject": {"id": "I1", "kind": "incubator"},
        "events": [{"id": "c1", "type": "incubation_cultivation", "date": "2025-05-01", "carrier": "湖州科创园",
                    "firm_type": "省级科技型中小企业", "in_incubation": True}],
    },
]


def _positions(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a case a value can go: each member, each list item, and a new member of each object."""
    places = [path]
    if isinstance(value, dict):
        places.append((*path, "extra"))
        for key, item in value.items():
            places += _positions(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            places += _positions(item, (*path, index))
    return places


POSITIONS = [(index, path) for index, base in enumerate(BASES) for path in _positions(base) if path]


def _placed(base: dict, path: tuple, value: Any) -> dict:
    data = json.loads(json.dumps(base))
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def _json_text(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_json_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    return json.dumps(value)


def _accepted_result_is_printable(case) -> None:
    for event in case.events:
        for value in event.values.values():
            assert not (isinstance(value, Decimal) and value.is_signed()), event  # no -0 reaches a trace
    try:
        result = calculate(PACK, case)
    except ValueError:  # EvaluationError, e.g. a revenue of 0 under 研發費用佔營業收入比重
        return
    data = result_to_dict(PACK, result)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogate reaches the output
    amounts = [data["total"]] + [item[key] or "0" for item in data["entitlements"] for key in ("amount", "tax_due")]
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", amount) for amount in amounts), amounts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(POSITIONS), VALUES)
def test_any_value_anywhere_is_a_case_or_one_message(position, value):
    index, path = position
    data = _placed(BASES[index], path, value)
    for parse in (lambda: read_case_json(_json_text(data).encode("utf-8")), lambda: data):
        try:
            case = case_from_data(parse(), PACK, "案例")
        except ValueError as error:
            message = str(error)
            message.encode("utf-8")  # printable and sendable as it is
            assert "Traceback" not in message and len(message) < 1000, message
            continue
        _accepted_result_is_printable(case)
