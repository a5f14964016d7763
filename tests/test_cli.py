"""The command line, run through its real entry points (``python -m cairn`` and ``cairn``).

Artifacts are made with the Python API in the test process; the CLI reads and deletes them
in a child process, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cairn
from conftest import error_line, ok

LINK = "https://nyc3.digitaloceanspaces.com/my-bucket-name/highly_variable_data.csv"
LS_JSON_KEYS = [
    "id",
    "created",
    "updated",
    "key",
    "latest_id",
    "type",
    "description",
    "data",
    "metadata_",
    "flow_run_id",
    "task_run_id",
]
VERSION_JSON_KEYS = [k for k in LS_JSON_KEYS if k != "latest_id"]


def make_link(cat: Any, key: str, link: str, text: str | None = None, **kw: Any) -> str:
    data = f"[{text or link}]({link})"
    return str(cat.artifacts.create("markdown", data, key=key, link=link, link_text=text, **kw))


# -- entry points, help, version -----------------------------------------------------------


def test_help_lists_commands(run_cli: Any) -> None:
    out = ok(run_cli("--help")).stdout
    for command in ("init", "artifact", "cat-object", "show-ref"):
        assert command in out
    assert "--catalog" in out and "--version" in out
    sub = ok(run_cli("artifact", "--help")).stdout
    for command in ("ls", "inspect", "log", "show", "delete"):
        assert f" {command} " in sub


def test_version(run_cli: Any) -> None:
    assert ok(run_cli("--version")).stdout.strip() == f"cairn {cairn.__version__}"


def test_console_script(run_cli: Any, catalog: Any) -> None:
    script = Path(sys.executable).parent / "cairn"
    assert script.exists(), "the cairn console script is not installed next to python"
    catalog.artifacts.create("markdown", "# hi", key="from-script")
    assert ok(run_cli("--version", command=[str(script)])).stdout.startswith("cairn ")
    rows = json.loads(ok(run_cli("artifact", "ls", "--json", command=[str(script)])).stdout)
    assert [r["key"] for r in rows] == ["from-script"]


def test_import_is_light() -> None:
    code = (
        "import sys, cairn.cli; "
        "heavy = ['cairn.catalog', 'rich', 'pyarrow', 'fsspec', 'msgspec', 'pydantic']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Speed is measured in bench/ (bench/startup.py, bench/listing.py), never asserted here.


def test_ls_of_1000_keys_lists_every_key_after_the_index_is_built(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from cairn.catalog import Catalog

    cat = Catalog.from_url(str(tmp_path / "big"))
    for i in range(1000):
        cat.artifacts.create("markdown", f"# report {i}", key=f"key-{i:04d}")
    script = Path(sys.executable).parent / "cairn"
    cmd = [str(script), "--catalog", str(tmp_path / "big"), "artifact", "ls", "--limit", "1000"]
    first = subprocess.run([*cmd, "--json"], env=cli_env, capture_output=True, check=True)
    assert (tmp_path / "big" / "index").is_dir()  # the first listing built the index
    cat.artifacts.create("markdown", "# newer", key="key-0500")  # the index is now stale
    second = subprocess.run([*cmd, "--json"], env=cli_env, capture_output=True, check=True)
    rows_before, rows_after = json.loads(first.stdout), json.loads(second.stdout)
    assert [r["key"] for r in rows_after] == [f"key-{i:04d}" for i in range(1000)]
    changed = [a for a, b in zip(rows_before, rows_after, strict=True) if a != b]
    assert [r["key"] for r in changed] == ["key-0500"]
    assert rows_after[500]["data"] == "# newer"


# -- init ----------------------------------------------------------------------------------


def test_init_writes_the_marker(run_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "new-catalog"
    out = ok(run_cli("init", str(target))).stdout
    assert out.strip() == f"Initialized empty cairn catalog in {target}"
    marker = json.loads((target / "CAIRN").read_text())
    assert marker["format"] == "cairn"
    again = ok(run_cli("init", str(target))).stdout
    assert "already a cairn catalog" in again


def test_init_without_url_uses_the_resolved_catalog(run_cli: Any, catalog_url: str) -> None:
    ok(run_cli("init"))
    assert (Path(catalog_url) / "CAIRN").is_file()


def test_init_bad_url(run_cli: Any) -> None:
    assert error_line(run_cli("init", "ftp://host/x")).startswith("Error: 'ftp://host/x'")


# -- ls ------------------------------------------------------------------------------------


def test_ls_of_a_catalog_never_written(run_cli: Any, catalog_url: str) -> None:
    result = ok(run_cli("artifact", "ls"))
    assert "Artifacts" in result.stdout
    for column in ("ID", "Key", "Type", "Updated"):
        assert column in result.stdout
    assert json.loads(ok(run_cli("artifact", "ls", "--json")).stdout) == []
    assert json.loads(ok(run_cli("artifact", "ls", "--all", "-o", "json")).stdout) == []
    assert ok(run_cli("show-ref")).stdout == ""
    assert not os.path.exists(catalog_url)


def test_ls_table_latest_per_key(run_cli: Any, catalog: Any) -> None:
    old = make_link(catalog, "zeta", "https://old.example")
    new = make_link(catalog, "zeta", "https://new.example")
    alpha = str(catalog.artifacts.create("table", "[[1, 2]]", key="alpha"))
    catalog.artifacts.create("markdown", "keyless")
    out = ok(run_cli("artifact", "ls")).stdout
    lines = out.splitlines()
    rows = [line for line in lines if new[:12] in line or alpha[:12] in line]
    assert len(rows) == 2
    assert "alpha" in rows[0] and "zeta" in rows[1]  # sorted by key
    assert "a few seconds ago" in rows[0]
    assert old[:12] not in out  # only the latest version
    assert new not in out  # ids are shortened in the table
    assert "keyless" not in out


def test_ls_json_is_exact(run_cli: Any, catalog: Any) -> None:
    first = make_link(catalog, "my-important-link", "https://www.prefect.io/", text="Prefect")
    latest = make_link(catalog, "my-important-link", LINK, description="## Highly variable data")
    rows = json.loads(ok(run_cli("artifact", "ls", "--json")).stdout)
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == LS_JSON_KEYS
    assert row["id"] == row["latest_id"] == latest != first
    # Prefect's -o json prints through rich markup, which turns this into "(url)".
    assert row["data"] == f"[{LINK}]({LINK})"
    assert row["description"] == "## Highly variable data"
    assert row["type"] == "markdown" and row["key"] == "my-important-link"
    assert row["created"].endswith("Z")
    via_o = json.loads(ok(run_cli("artifact", "ls", "-o", "json")).stdout)
    via_output = json.loads(ok(run_cli("artifact", "ls", "--output", "json")).stdout)
    assert via_o == via_output == rows
    raw = ok(run_cli("artifact", "ls", "--json")).stdout
    assert raw.startswith('[\n  {\n    "id": ')  # indented by 2
    assert f'"data": "[{LINK}]({LINK})"' in raw


def test_ls_all_lists_every_version_then_keyless(run_cli: Any, catalog: Any) -> None:
    b1 = str(catalog.artifacts.create("markdown", "b1", key="bravo"))
    b2 = str(catalog.artifacts.create("markdown", "b2", key="bravo"))
    a1 = str(catalog.artifacts.create("markdown", "a1", key="alpha"))
    k1 = str(catalog.artifacts.create("progress", 10.0))
    k2 = str(catalog.artifacts.create("markdown", "no key"))
    rows = json.loads(ok(run_cli("artifact", "ls", "--all", "--json")).stdout)
    assert [r["id"] for r in rows] == [a1, b2, b1, k2, k1]
    assert all(list(r) == VERSION_JSON_KEYS for r in rows)
    table = ok(run_cli("artifact", "ls", "-a")).stdout
    assert table.index(b1[:12]) < table.index(k2[:12]) < table.index(k1[:12])


def test_ls_limit(run_cli: Any, catalog: Any) -> None:
    for key in ("a", "b", "c"):
        catalog.artifacts.create("markdown", key, key=key)
        catalog.artifacts.create("markdown", key + "2", key=key)
    rows = json.loads(ok(run_cli("artifact", "ls", "--limit", "2", "--json")).stdout)
    assert [r["key"] for r in rows] == ["a", "b"]
    rows = json.loads(ok(run_cli("artifact", "ls", "--all", "--limit", "3", "--json")).stdout)
    assert [r["data"] for r in rows] == ["a2", "a", "b2"]
    assert run_cli("artifact", "ls", "--limit", "0").returncode != 0


def test_ls_rejects_other_output_formats(run_cli: Any) -> None:
    assert error_line(run_cli("artifact", "ls", "-o", "yaml")) == (
        "Only 'json' output format is supported."
    )


# -- choosing the catalog ------------------------------------------------------------------


def test_catalog_option_before_and_after_the_command(run_cli: Any, tmp_path: Path) -> None:
    from cairn.catalog import Catalog

    for name in ("one", "two", "env"):
        Catalog.from_url(str(tmp_path / name)).artifacts.create("markdown", name, key=name)

    def keys(*args: str) -> list[str]:
        out = ok(run_cli(*args, catalog=str(tmp_path / "env"))).stdout
        return [r["key"] for r in json.loads(out)]

    assert keys("artifact", "ls", "--json") == ["env"]
    assert keys("--catalog", str(tmp_path / "one"), "artifact", "ls", "--json") == ["one"]
    assert keys("artifact", "ls", "--json", "--catalog", str(tmp_path / "two")) == ["two"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    both = ("--catalog", one, "artifact", "ls", "--catalog", two, "--json")
    assert keys(*both) == ["two"]  # the one after the command wins
    file_url = (tmp_path / "one").as_uri()
    assert keys("--catalog", file_url, "artifact", "ls", "--json") == ["one"]


def test_nearest_dot_cairn_is_found(run_cli: Any, tmp_path: Path) -> None:
    from cairn.catalog import Catalog

    project = tmp_path / "project"
    Catalog.from_url(str(project / ".cairn")).artifacts.create("markdown", "x", key="found")
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    out = ok(run_cli("artifact", "ls", "--json", catalog=None, cwd=deep)).stdout
    assert [r["key"] for r in json.loads(out)] == ["found"]
    assert not (deep / ".cairn").exists()


# -- inspect and log -----------------------------------------------------------------------


def test_inspect(run_cli: Any, catalog: Any) -> None:
    ids = [make_link(catalog, "k", f"https://e.com/{i}", description=f"v{i}") for i in range(12)]
    rows = json.loads(ok(run_cli("artifact", "inspect", "k", "--json")).stdout)
    assert [r["id"] for r in rows] == ids[::-1][:10]  # newest first, default limit 10
    assert all(list(r) == VERSION_JSON_KEYS for r in rows)
    rows = json.loads(ok(run_cli("artifact", "inspect", "k", "--limit", "3", "-o", "json")).stdout)
    assert [r["description"] for r in rows] == ["v11", "v10", "v9"]
    assert rows[0]["data"] == "[https://e.com/11](https://e.com/11)"
    pretty = ok(run_cli("artifact", "inspect", "k", "--limit", "1")).stdout
    assert "'[https://e.com/11](https://e.com/11)'" in pretty
    assert ids[-1] in pretty


@pytest.mark.parametrize("width", [40, 80, 200])
def test_inspect_text_without_colours_is_richs_pretty_layout(
    width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Piped output skips rich's renderer for speed; it must still be exactly what rich's
    # Pretty prints (the layout of Prefect's `artifact inspect`), never wrapped.
    import io

    from rich.console import Console
    from rich.pretty import Pretty

    from cairn.cli._output import print_pretty

    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(width))
    value = [
        {
            "id": "0" * 64,
            "data": "# Report\n[text](https://e.com) [bold]x[/bold] ünï 😀\ttab " + "y" * 150,
            "metadata_": {"rows": [1, 2.5, None, True], "nested": {"a": {"b": ["c"] * 30}}},
            "description": None,
        }
        for _ in range(3)
    ]
    # and entries near the width, so the layout depends on it: some fit on one line
    value += [{"x": ["a" * (width - 23 + k), 5]} for k in range(-4, 5)]
    print_pretty(value)
    got = capsys.readouterr().out
    expected = io.StringIO()
    Console(file=expected, width=width, color_system=None, highlight=False, markup=False).print(
        Pretty(value), soft_wrap=True
    )
    assert got == expected.getvalue()
    assert "\x1b[" not in got


@pytest.mark.parametrize("key", ["missing", "Not_A_Valid_Key", "a/../b", ".."])
def test_inspect_unknown_or_invalid_key(run_cli: Any, catalog: Any, key: str) -> None:
    catalog.artifacts.create("markdown", "x", key="present")
    assert error_line(run_cli("artifact", "inspect", key)) == f"Artifact '{key}' not found."
    assert error_line(run_cli("artifact", "log", key)) == f"Artifact '{key}' not found."


def test_log(run_cli: Any, catalog: Any) -> None:
    first = str(
        catalog.artifacts.create(
            "markdown", "a", key="k", description="First line\nsecond", flow_run_id="f" * 32
        )
    )
    second = str(catalog.artifacts.create("table", "[]", key="k", task_run_id="1234abcd" * 4))
    lines = ok(run_cli("artifact", "log", "k")).stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(second[:12] + "  ")
    assert "table" in lines[0] and "task run 1234abcd" in lines[0]
    assert lines[1].startswith(first[:12] + "  ")
    assert "flow run ffffffff" in lines[1] and lines[1].endswith("First line")
    assert "second" not in lines[1]
    assert len(ok(run_cli("artifact", "log", "k", "-n", "1")).stdout.splitlines()) == 1


# -- show ----------------------------------------------------------------------------------


def test_show_link_and_markdown(run_cli: Any, catalog: Any) -> None:
    make_link(catalog, "link", "https://www.prefect.io/", text="Prefect")
    out = ok(run_cli("artifact", "show", "link")).stdout
    assert "Prefect" in out and "https://www.prefect.io/" in out
    catalog.artifacts.create(
        "markdown",
        "# Sales Report\n\nSee [the docs](https://d.example).",
        key="report",
        description="Quarterly Sales Report",
    )
    out = ok(run_cli("artifact", "show", "report")).stdout
    assert "Sales Report" in out and "# Sales Report" not in out  # rendered, not raw
    assert "the docs (https://d.example)" in out
    assert "Quarterly Sales Report" in out


@pytest.mark.parametrize(
    "table",
    [
        {"name": ["John Smith", "Jane [x] Jones"], "p": [0.85, None]},
        [{"name": "John Smith", "p": 0.85}, {"name": "Jane [x] Jones"}],
        [["John Smith", 0.85], ["Jane [x] Jones", None]],
    ],
    ids=["dict-of-lists", "list-of-dicts", "list-of-lists"],
)
def test_show_table(run_cli: Any, catalog: Any, table: Any) -> None:
    catalog.artifacts.create("table", json.dumps(table), key="tab")
    out = ok(run_cli("artifact", "show", "tab")).stdout
    assert "John Smith" in out and "Jane [x] Jones" in out and "0.85" in out
    assert "│" in out  # drawn as a table
    assert "null" not in out and "None" not in out


def test_show_image_progress_and_json(run_cli: Any, catalog: Any) -> None:
    url = "https://media3.giphy.com/x/giphy.gif"
    image = str(catalog.artifacts.create("image", url, key="gif", description="A gif."))
    assert url in ok(run_cli("artifact", "show", "gif")).stdout
    progress = str(catalog.artifacts.create("progress", 0.0))
    catalog.artifacts.update_progress(progress, 42.5)
    out = ok(run_cli("artifact", "show", progress[:8])).stdout
    assert "42.5%" in out and "█" in out
    shown = json.loads(ok(run_cli("artifact", "show", image, "--json")).stdout)
    assert shown == catalog.artifacts.get(image).to_dict()


def test_show_prefers_a_key_over_an_id_prefix(run_cli: Any, catalog: Any) -> None:
    target = str(catalog.artifacts.create("markdown", "by id"))
    prefix = target[:8]
    assert json.loads(ok(run_cli("artifact", "show", prefix, "--json")).stdout)["id"] == target
    # A key spelled like that prefix now exists: the name means the key.
    keyed = str(catalog.artifacts.create("markdown", "by key", key=prefix))
    assert json.loads(ok(run_cli("artifact", "show", prefix, "--json")).stdout)["id"] == keyed


def test_show_not_found(run_cli: Any, catalog: Any) -> None:
    catalog.artifacts.create("markdown", "x", key="present")
    assert error_line(run_cli("artifact", "show", "nope")) == "Artifact 'nope' not found."
    assert error_line(run_cli("artifact", "show", "abcdef12")) == "Artifact 'abcdef12' not found."
    assert "at least 6 characters" in error_line(run_cli("artifact", "show", "abc"))


# -- delete --------------------------------------------------------------------------------


def test_delete_by_id_non_interactive(run_cli: Any, catalog: Any) -> None:
    first = str(catalog.artifacts.create("markdown", "v1", key="k"))
    second = str(catalog.artifacts.create("markdown", "v2", key="k"))
    result = ok(run_cli("artifact", "delete", "--id", second[:10]))
    assert result.stdout.strip() == f"Deleted artifact with id '{second[:10]}'."
    rows = json.loads(ok(run_cli("artifact", "ls", "--json")).stdout)
    assert [r["latest_id"] for r in rows] == [first]  # the previous version is the latest
    assert error_line(run_cli("artifact", "delete", "--id", second)) == (
        f"Artifact with id '{second}' not found!"
    )


def test_delete_keyless_by_id(run_cli: Any, catalog: Any) -> None:
    keyless = str(catalog.artifacts.create("markdown", "no key"))
    ok(run_cli("artifact", "delete", "--id", keyless, "--yes"))
    assert json.loads(ok(run_cli("artifact", "ls", "--all", "--json")).stdout) == []


def test_delete_by_key_deletes_every_version(run_cli: Any, catalog: Any) -> None:
    for i in range(205):  # more than Prefect's 200 per call
        catalog.artifacts.create("markdown", str(i), key="many")
    catalog.artifacts.create("markdown", "stays", key="other")
    result = ok(run_cli("artifact", "delete", "many"))
    assert result.stdout.strip() == "Deleted 205 artifact(s) with key 'many'."
    rows = json.loads(ok(run_cli("artifact", "ls", "--all", "--json")).stdout)
    assert [r["key"] for r in rows] == ["other"]


def test_delete_messages(run_cli: Any, catalog: Any) -> None:
    catalog.artifacts.create("markdown", "x", key="k")
    assert error_line(run_cli("artifact", "delete", "k", "--id", "abcdef")) == (
        "Please provide either a key or an artifact_id but not both."
    )
    assert error_line(run_cli("artifact", "delete")) == "Please provide a key or an artifact_id."
    for key in ("nope", "Bad_Key", "../k"):
        assert error_line(run_cli("artifact", "delete", key)) == (
            f"Artifact with key '{key}' not found. "
            "You can also specify an artifact id with the --id flag."
        )
    assert error_line(run_cli("artifact", "delete", "--id", "abcdef")) == (
        "Artifact with id 'abcdef' not found!"
    )


def test_delete_asks_on_a_terminal(run_cli_tty: Any, run_cli: Any, catalog: Any) -> None:
    target = str(catalog.artifacts.create("markdown", "v1", key="k"))
    catalog.artifacts.create("markdown", "v2", key="k")
    question = f"Are you sure you want to delete artifact with id '{target[:8]}'?"
    result = run_cli_tty("artifact", "delete", "--id", target[:8], answers=[(question, "n")])
    assert result.returncode == 1
    assert "Deletion aborted." in result.output
    assert len(json.loads(ok(run_cli("artifact", "inspect", "k", "--json")).stdout)) == 2

    result = run_cli_tty("artifact", "delete", "--id", target[:8], answers=[(question, "y")])
    assert result.returncode == 0, result.output
    assert f"Deleted artifact with id '{target[:8]}'." in result.output

    catalog.artifacts.create("markdown", "v3", key="k")
    question = "Are you sure you want to delete 2 artifact(s) with key 'k'?"
    result = run_cli_tty("artifact", "delete", "k", answers=[(question, "")])  # default: No
    assert result.returncode == 1 and "Deletion aborted." in result.output
    result = run_cli_tty("artifact", "delete", "k", answers=[(question, "y")])
    assert result.returncode == 0 and "Deleted 2 artifact(s) with key 'k'." in result.output


def test_delete_yes_skips_the_question_on_a_terminal(run_cli_tty: Any, catalog: Any) -> None:
    catalog.artifacts.create("markdown", "v1", key="k")
    result = run_cli_tty("artifact", "delete", "k", "-y")
    assert result.returncode == 0
    assert "Are you sure" not in result.output
    assert "Deleted 1 artifact(s) with key 'k'." in result.output


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--catalog", "ftp://x", "artifact", "ls"), "unsupported scheme 'ftp'"),
        (("artifact", "ls", "--catalog", "s3://b/x"), "does not name a bucket"),
        (("artifact", "delete", "--id", "zz"), "'zz' is not an id or id prefix"),
        (("artifact", "delete", "--id", "abc"), "id prefix 'abc' is too short"),
        (("artifact", "show", "ZZZZZZZZ"), "Artifact 'ZZZZZZZZ' not found."),
        (("cat-object", "abcdef0123"), "no object with id 'abcdef0123'"),
        (("cat-object", "not-hex"), "'not-hex' is not an id or id prefix"),
        (("show-ref", "../x"), "is not a ref name"),
    ],
)
def test_bad_input_is_one_line(
    run_cli: Any, catalog: Any, args: tuple[str, ...], expected: str
) -> None:
    catalog.artifacts.create("markdown", "x", key="present")
    assert expected in error_line(run_cli(*args))


def test_ambiguous_prefix_is_one_line(run_cli: Any, catalog: Any) -> None:
    import hashlib

    seen: dict[str, bytes] = {}
    for i in range(10**6):  # a birthday collision of 6 hex characters needs ~5,000 tries
        data = b"blob %d" % i
        prefix = hashlib.sha256(data).hexdigest()[:6]
        if prefix in seen:
            catalog.objects.put(seen[prefix])
            catalog.objects.put(data)
            break
        seen[prefix] = data
    for args in (("cat-object", prefix), ("artifact", "delete", "--id", prefix)):
        assert f"id prefix '{prefix}' is ambiguous" in error_line(run_cli(*args))


def test_debug_shows_the_traceback(run_cli: Any) -> None:
    for args, env in (
        (("--debug", "--catalog", "ftp://x", "artifact", "ls"), {}),
        (("--catalog", "ftp://x", "artifact", "ls"), {"CAIRN_DEBUG": "1"}),
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("Error: 'ftp://x'")


# -- plumbing ------------------------------------------------------------------------------


def test_cat_object(run_cli: Any, catalog: Any) -> None:
    oid = make_link(catalog, "k", "https://www.prefect.io/", text="Prefect")
    record = json.loads(ok(run_cli("cat-object", oid[:8])).stdout)
    assert record["kind"] == "artifact"
    assert record["data"] == "[Prefect](https://www.prefect.io/)"
    assert record["link"] == "https://www.prefect.io/"
    raw = subprocess.run(
        [sys.executable, "-m", "cairn", "--catalog", catalog.url, "cat-object", oid, "--raw"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == catalog.objects.get(oid)

    payload = b"\x00\x01 not a record"
    blob = str(catalog.objects.put(payload))
    out = ok(run_cli("cat-object", blob)).stdout
    assert out.strip() == (
        f"{blob} is a blob of {len(payload)} bytes, not a record (use --raw to write its bytes)"
    )


def test_show_ref(run_cli: Any, catalog: Any) -> None:
    a = make_link(catalog, "alpha", "https://a.example")
    b = str(catalog.artifacts.create("markdown", "b", key="bravo"))
    keyless = str(catalog.artifacts.create("markdown", "no key"))
    lines = ok(run_cli("show-ref")).stdout.splitlines()
    assert f"{a} artifacts/alpha" in lines
    assert f"{b} artifacts/bravo" in lines
    assert f"{keyless} keyless/{keyless}" in lines
    assert ok(run_cli("show-ref", "artifacts/b")).stdout == f"{b} artifacts/bravo\n"
    rows = json.loads(ok(run_cli("show-ref", "artifacts/", "--json")).stdout)
    assert rows == [{"name": "artifacts/alpha", "id": a}, {"name": "artifacts/bravo", "id": b}]


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "a few seconds ago"),
        (9, "a few seconds ago"),
        (45, "45 seconds ago"),
        (60, "1 minute ago"),
        (180, "3 minutes ago"),
        (3 * 3600, "3 hours ago"),
        (2 * 86400, "2 days ago"),
        (8 * 86400, "1 week ago"),
        (400 * 86400, "1 year ago"),
        (-120, "in 2 minutes"),
    ],
)
def test_relative_time(seconds: int, expected: str) -> None:
    import datetime as dt

    from cairn.cli._output import relative_time

    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert relative_time(now - dt.timedelta(seconds=seconds), now) == expected
