"""The README's Python examples run as written: docs that tell the truth."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_environment

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(
    index: int, tmp_path: Path, cli_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    # Blocks run in order in one folder, as a reader would: later blocks read what earlier
    # ones wrote. Each run here replays the blocks up to and including this one.
    script = tmp_path / "readme_example.py"
    code = "\n\n".join(BLOCKS[: index + 1])
    env = cli_env
    if "s3://my-bucket/" in code:
        # The bucket examples run against moto's S3 server, in a bucket of their own.
        bucket = request.getfixturevalue("s3_bucket")
        code = code.replace("s3://my-bucket/", f"s3://{bucket}/")
        env = clean_environment()
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_every_guarantee_links_to_a_test_that_exists() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\[`?([\w./]+)`?\]\((tests/[\w.]+\.py)\)", section)
    assert len(links) >= 10
    root = README.parent
    for name, path in links:
        source = (root / path).read_text(encoding="utf-8")
        if name.startswith("test_"):
            assert re.search(rf"^def {name}\(", source, re.M), f"{path} has no {name}"
        else:
            assert name == path, (name, path)
