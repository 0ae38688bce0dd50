"""docs/stress.md: every code block runs on its own, as a reader would run it.

- each ```python block runs alone, in a fresh namespace (its imports included);
- a ```python block after `<!-- file: NAME.py -->` is also saved as NAME.py in a scratch folder;
- each ```sh block runs with bash in that folder (after the files above it are saved), with
  `python` being this interpreter, and must exit as its `<!-- expect-exit: N -->` says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "stress.md"
BLOCK = re.compile(r"(?:<!-- (file|expect-exit): (\S+) -->\n)?^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str | None, str | None]]:
    """(language, code, file name, expected exit) of every fenced block, in order."""
    out = []
    for m in BLOCK.finditer(DOC.read_text()):
        marker, value, lang, code = m.groups()
        out.append(
            (
                lang,
                code,
                value if marker == "file" else None,
                value if marker == "expect-exit" else None,
            )
        )
    return out


def test_every_block_is_python_sh_or_text() -> None:
    langs = {lang for lang, _, _, _ in blocks()}
    assert langs <= {"python", "sh", "text"}, langs
    for lang, code, _, exit_ in blocks():
        if lang == "sh":
            assert exit_ is not None, f"sh block without an expect-exit marker:\n{code}"


PY = [code for lang, code, _, _ in blocks() if lang == "python"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("code", PY, ids=[f"python-{i}" for i in range(len(PY))])
def test_python_block_runs_on_its_own(code: str) -> None:
    exec(compile(code, "docs/stress.md", "exec", dont_inherit=True), {"__name__": "doc_block"})


@pytest.mark.timeout(120)
def test_sh_blocks_pass_and_fail_as_documented(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if Path(sys.executable).name != "python":
        shim = tmp_path / "bin"
        shim.mkdir()
        (shim / "python").symlink_to(sys.executable)
        env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    ran = 0
    for lang, code, name, expect in blocks():
        if lang == "python" and name:
            (tmp_path / name).write_text(code)
        if lang != "sh":
            continue
        if "gcc " in code and shutil.which("gcc") is None:
            continue  # the native example needs a C compiler
        r = subprocess.run(
            ["bash", "-e", "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == int(expect or 0), f"{code}\n{r.stdout}\n{r.stderr}"
        if expect == "1":
            assert "VIOLATION invariant" in r.stdout and "result: FAIL" in r.stdout
        ran += 1
    assert ran >= 4
