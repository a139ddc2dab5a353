"""`zhida packs`, and `--pack ID` on every command that reads a pack (zhida.cli_packs).

The extra packs here are written by the tests into tmp folders named by ZHIDA_POLICIES; each says
in its policy.yaml that it is fictional. Only their listing is read, except where a test copies the
shipped Huzhou pack under another id (the same document, rules and events).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhida.cli import app
from zhida.rules.library import shipped_root

runner = CliRunner()
HUZHOU = shipped_root() / "huzhou-2025"
UNKNOWN = "--pack nowhere: 没有这个政策包;现有:huzhou-2025"


def invoke(*arguments: str, policies: Path | None = None):
    env = {"ZHIDA_POLICIES": str(policies) if policies else "", "COLUMNS": "250"}
    return runner.invoke(app, list(arguments), env=env, terminal_width=250)


def fictional(folder: Path, **metadata: str) -> Path:
    """A pack folder holding only a fictional policy.yaml (enough to be listed)."""
    folder.mkdir(parents=True)
    lines = ["# Fictional: written by tests/test_packs_cli.py, not a real document.", "fictional: true"]
    lines += [f"{key}: {value}" for key, value in metadata.items()]
    (folder / "policy.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def copy_of_huzhou(folder: Path, issued: str) -> Path:
    """The shipped Huzhou pack under another id and date, marked fictional."""
    shutil.copytree(HUZHOU, folder)
    metadata = (folder / "policy.yaml").read_text(encoding="utf-8")
    (folder / "policy.yaml").write_text(
        "# Fictional copy of huzhou-2025 made by tests/test_packs_cli.py.\n"
        + metadata.replace("issued: 2025-03-14", f"issued: {issued}") + "fictional: true\n",
        encoding="utf-8",
    )
    return folder


def test_packs_lists_the_shipped_pack_in_simplified_as_the_default():
    result = invoke("packs")
    assert result.exit_code == 0, result.output
    # policy.yaml: title 關于推動經濟高質量發展若干政策(2025年版), issuer 湖州市人民政府, issued 2025-03-14
    row = next(line for line in result.output.splitlines() if "huzhou-2025" in line)
    assert "关于推动经济高质量发展若干政策(2025年版)" in row and "湖州市人民政府" in row and "2025-03-14" in row
    assert "│ 是" in row and "虚构" not in row
    assert "共 1 个政策包;默认:huzhou-2025。" in result.output


def test_packs_lists_zhida_policies_folders_with_overlays_and_fictional_marks(tmp_path):
    more = tmp_path / "more"
    fictional(more / "anji-overlay", title="安吉县承接落实方案", issuer="安吉县人民政府", issued="2025-05-01",
              extends="huzhou-2025")
    fictional(more / "province-2025", title="關于推動經濟高質量發展的若干政策", issuer="浙江省人民政府", issued="2025-01-20")
    result = invoke("packs", policies=more)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│ ")}
    assert list(rows) == ["huzhou-2025", "anji-overlay", "province-2025"]  # shipped first, then by folder name
    assert "huzhou-2025" in rows["anji-overlay"].split("│")[5] and "虚构" in rows["anji-overlay"]
    assert "关于推动经济高质量发展的若干政策 (虚构)" in rows["province-2025"]  # Traditional title shown Simplified
    # the newest document that extends none: Huzhou (2025-03-14) over the province (2025-01-20); an
    # overlay, though newer (2025-05-01), is never the default
    assert "默认:huzhou-2025" in result.output and "│ 是" in rows["huzhou-2025"]
    assert "共 3 个政策包" in result.output


def test_packs_refuses_a_broken_policies_folder(tmp_path):
    result = invoke("packs", policies=tmp_path / "missing")
    assert result.exit_code == 2
    assert f"ZHIDA_POLICIES 中的 {tmp_path / 'missing'} 不是目录" in result.output
    fictional(tmp_path / "more" / "bad", issued="三月")
    result = invoke("packs", policies=tmp_path / "more")
    assert result.exit_code == 2
    assert "policy.yaml: issued 须为日期(如 2025-03-14),而不是 '三月'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("arguments", [
    ["calc", "case.yaml"], ["events"], ["check"], ["demo"], ["synth", "-o", "out"],
    ["match", "s.csv", "e.csv", "-o", "out.csv"], ["serve", "--port", "1"],
    ["report", "budget"], ["report", "targets"], ["budget", "set", "1", "100", "--user", "admin"],
    ["targets", "assign", "x", "--department", "市科技局", "--share", "0.5", "--user", "admin"],
    ["payments", "export", "1", "-o", "x.csv", "--user", "admin"], ["propose", "x.parquet", "--user", "admin"],
    ["users", "add", "r1", "--role", "reviewer", "--department", "市科技局", "--password-stdin"],
])
def test_every_command_refuses_an_unknown_pack_naming_the_known_ones(arguments, tmp_path):
    result = invoke(*arguments, "--pack", "nowhere", "--database", f"sqlite:///{tmp_path / 'l.db'}") \
        if arguments[0] in ("report", "budget", "targets", "payments", "propose", "users") \
        else invoke(*arguments, "--pack", "nowhere")
    assert result.exit_code == 2, result.output
    assert UNKNOWN in result.output
    assert not (tmp_path / "l.db").exists()  # refused before the ledger is opened


INNOVATION_VOUCHER = {
    "subject": {"id": "E1", "kind": "enterprise"},
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元: 50% × 300000 = 150000
    "events": [{"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": 300000}],
}


def test_calc_by_id_by_folder_and_by_default_agree(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(INNOVATION_VOUCHER), encoding="utf-8")
    more = tmp_path / "more"
    copy_of_huzhou(more / "huzhou-copy", issued="2024-03-14")
    amounts = []
    for choice in ([], ["--pack", "huzhou-2025"], ["--pack", str(HUZHOU)], ["--pack", "huzhou-copy"],
                   ["--pack", str(more / "huzhou-copy")]):
        result = invoke("calc", str(case), "--json", *choice, policies=more)
        assert result.exit_code == 0, result.output
        amounts.append([(item["rule"], item["amount"]) for item in json.loads(result.output)["entitlements"]])
    assert amounts == [[("innovation-voucher", "150000.00")]] * 5


def test_the_newest_pack_is_the_default(tmp_path):
    """A copy issued 2026-03-14 is newer than Huzhou's 2025-03-14: commands without --pack use it."""
    more = tmp_path / "more"
    copy = copy_of_huzhou(more / "copy-2026", issued="2026-03-14")
    (copy / "document.txt").write_text(
        (copy / "document.txt").read_text(encoding="utf-8").replace("2025年3月14日", "2026年3月14日"), encoding="utf-8")
    listed = invoke("packs", policies=more)
    assert "默认:copy-2026" in listed.output
    result = invoke("demo", policies=more)
    assert result.exit_code == 0, result.output
    # demo parses the chosen pack's document.txt: 一、推進教育科技人才一體發展 … 八 areas
    assert "共 8 个领域" in result.output


def test_a_pack_folder_without_policy_yaml_is_refused(tmp_path):
    result = invoke("events", "--pack", str(tmp_path))
    assert result.exit_code == 2
    assert f"--pack {tmp_path}: 该目录中没有 policy.yaml,不是政策包" in result.output


def test_a_broken_pack_is_one_message_for_ledger_commands_too(tmp_path):
    pack = copy_of_huzhou(tmp_path / "broken", issued="2025-03-14")
    (pack / "events.yaml").write_text("events: [unclosed\n", encoding="utf-8")
    for arguments in (["events"], ["report", "budget", "--database", f"sqlite:///{tmp_path / 'l.db'}"]):
        result = invoke(*arguments, "--pack", str(pack))
        assert result.exit_code == 2, result.output
        assert "错误:" in result.output and "events.yaml" in result.output
        assert "Traceback" not in result.output


def test_serve_serves_every_pack_with_the_chosen_one_as_default(tmp_path, monkeypatch):
    """`zhida serve --pack ID`: every pack found is served (/packs), the chosen one is the default and
    owns the ledger; uvicorn is not started (its run is replaced)."""
    started = []
    monkeypatch.setattr("zhida.web.server.run", lambda app, host, port: started.append(app))
    more = tmp_path / "more"
    copy_of_huzhou(more / "huzhou-copy", issued="2024-03-14")
    database = f"sqlite:///{tmp_path / 'l.db'}"
    result = invoke("serve", "--pack", "huzhou-copy", "--no-demo", "--database", database, policies=more)
    assert result.exit_code == 0, result.output
    [served] = started
    try:
        assert served.state.default_pack == "huzhou-copy" and served.state.pack.id == "huzhou-copy"
        assert set(served.state.packs) == {"huzhou-2025", "huzhou-copy"}
    finally:
        served.state.ledger.factory.kw["bind"].dispose()
