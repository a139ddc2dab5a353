"""`pip install .` as a user would: the wheel is built, installed (not editable) into a fresh virtual
environment, and `zhida packs`, `check`, `calc` and `serve` run from a folder outside the repository.
The packs, templates, static files and migrations must come from the installed package.

Dependencies come from this machine (--system-site-packages; the wheel is installed --no-deps), so
the test runs offline apart from the build backend an isolated build fetches, as `pip install -e .`
in .ci/run does. It runs in CI: nothing here is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _can_build_without_isolation() -> bool:
    """setuptools builds a wheel by itself from 70.1 on; older ones need the `wheel` package."""
    return any(importlib.util.find_spec(name) is not None for name in ("setuptools.command.bdist_wheel", "wheel"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (a build in place would leave build/ and egg-info
    in the working tree, and race with other runs)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", *isolation,
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [found] = out.glob("zhida-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh environment seeing this machine's packages, with the wheel installed into it."""
    where = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(where)],
                   check=True, timeout=120)
    # the machine's pip, run by the environment's Python, installs into the environment
    installed = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--disable-pip-version-check",
         "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return where


@pytest.fixture()
def outside(tmp_path) -> Path:
    """A working folder outside the repository, with no policies/ beside it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not str(folder.resolve()).startswith(str(ROOT.resolve()))
    return folder


def environment(**extra: str) -> dict[str, str]:
    """The user's environment: no PYTHONPATH into the repository, no extra packs, no CI ledger URL."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "ZHIDA_POLICIES", "DATABASE_URL", "ZHIDA_DEMO")}
    env.update(extra)
    return env


def run(venv: Path, cwd: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "zhida"), *arguments], cwd=cwd, env=environment(COLUMNS="200", **extra),
                          capture_output=True, text=True, timeout=120)


def test_the_wheel_holds_every_file_of_the_package(wheel):
    """The package-data globs of pyproject.toml miss nothing: packs, templates, static files, migrations."""
    package = ROOT / "src" / "zhida"
    wanted = {f"zhida/{path.relative_to(package).as_posix()}" for path in package.rglob("*")
              if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    held = set(zipfile.ZipFile(wheel).namelist())
    assert wanted - held == set()
    for needed in ("zhida/policies/huzhou-2025/policy.yaml", "zhida/policies/huzhou-2025/document.txt",
                   "zhida/policies/huzhou-2025/rules/5-opening-up.yaml", "zhida/web/templates/index.html",
                   "zhida/ledger/migrations/env.py", "zhida/ledger/migrations/script.py.mako"):
        assert needed in held


def test_installed_package_runs_outside_the_repository(venv, outside):
    program = "import zhida; from zhida.rules.library import choose; print(zhida.__file__); print(choose(None).path)"
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", program],
                              cwd=outside, env=environment(), capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    for line in imported.stdout.splitlines():  # the package, and the default pack inside it
        location = Path(line).resolve()
        assert location.is_relative_to(venv.resolve()) and not location.is_relative_to(ROOT.resolve()), line

    listed = run(venv, outside, "packs")
    assert listed.returncode == 0, listed.stderr
    # policy.yaml: title 關于推動經濟高質量發展若干政策(2025年版), issuer 湖州市人民政府, issued 2025-03-14
    assert "huzhou-2025" in listed.stdout and "关于推动经济高质量发展若干政策(2025年版)" in listed.stdout
    assert "湖州市人民政府" in listed.stdout and "2025-03-14" in listed.stdout
    assert "默认:huzhou-2025" in listed.stdout

    checked = run(venv, outside, "check")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr


def _readme_case(venv: Path) -> dict:
    """The case the shipped pack README shows under "A case" (its first YAML block)."""
    [readme] = venv.glob("lib/python*/site-packages/zhida/policies/huzhou-2025/README.md")
    block = re.search(r"```yaml\n(.*?)```", readme.read_text(encoding="utf-8"), re.S).group(1)
    return yaml.safe_load(block)


def test_installed_calc_computes_the_readme_case(venv, outside):
    case = _readme_case(venv)
    path = outside / "case.json"
    path.write_text(json.dumps(case, ensure_ascii=False, default=str), encoding="utf-8")
    result = run(venv, outside, "calc", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    amounts = {item["event"]: (item["rule"], item["amount"]) for item in data["entitlements"]}
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元: 50% × 300000 = 150000 (under 200000)
    # 對首次認定的高新技術企業,每家給予最高20萬元獎勵: 200000
    assert amounts == {"v1": ("innovation-voucher", "150000.00"), "h1": ("high-tech-first", "200000.00")}
    assert data["totals"]["ceiling"] == "350000.00"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


def test_installed_serve_answers(venv, outside):
    port = _free_port()
    database = f"sqlite:///{outside / 'ledger.db'}"
    server = subprocess.Popen(
        [str(venv / "bin" / "zhida"), "serve", "--port", str(port), "--database", database, "--no-demo"],
        cwd=outside, env=environment(ZHIDA_DEMO="0"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _get(f"http://127.0.0.1:{port}/") != 200:
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "zhida serve did not answer within 60 s"
            time.sleep(0.3)
        assert _get(f"http://127.0.0.1:{port}/policy") == 200  # the document, from the shipped pack
        assert _get(f"http://127.0.0.1:{port}/docs") == 200  # Swagger UI, from the shipped static files
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/packs", timeout=5) as response:
            served = json.load(response)
        assert served["default"] == "huzhou-2025" and [pack["id"] for pack in served["packs"]] == ["huzhou-2025"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
    assert (outside / "ledger.db").is_file()  # migrated by the shipped alembic scripts


def test_installed_zhida_policies_adds_a_folder_of_packs(venv, outside):
    """A copy of the shipped pack under another id, in a folder named by ZHIDA_POLICIES, is listed
    and can be chosen with --pack."""
    [shipped] = venv.glob("lib/python*/site-packages/zhida/policies/huzhou-2025")
    more = outside / "more"
    copy = more / "copy-2026"
    shutil.copytree(shipped, copy)
    metadata = (copy / "policy.yaml").read_text(encoding="utf-8")
    (copy / "policy.yaml").write_text(
        "# A copy of huzhou-2025 under another id, made by tests/test_wheel.py: fictional, not a document.\n"
        + metadata.replace("issued: 2025-03-14", "issued: 2026-03-14") + "fictional: true\n",
        encoding="utf-8",
    )
    listed = run(venv, outside, "packs", ZHIDA_POLICIES=str(more))
    assert listed.returncode == 0, listed.stderr
    assert "huzhou-2025" in listed.stdout and "copy-2026" in listed.stdout and "虚构" in listed.stdout
    assert "默认:copy-2026" in listed.stdout  # the newest document (2026-03-14) is the default

    events = run(venv, outside, "events", "--pack", "copy-2026", ZHIDA_POLICIES=str(more))
    assert events.returncode == 0 and "innovation_voucher" in events.stdout

    unknown = run(venv, outside, "events", "--pack", "nowhere", ZHIDA_POLICIES=str(more))
    assert unknown.returncode == 2
    assert "--pack nowhere: 没有这个政策包;现有:huzhou-2025、copy-2026" in unknown.stderr
