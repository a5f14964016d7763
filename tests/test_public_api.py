"""The public names of each package, snapshotted: adding or removing one is a decision."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = {
    "cairn": [
        "Artifact",
        "Catalog",
        "CatalogError",
        "Flow",
        "Task",
        "__version__",
        "flow",
        "materialize",
        "task",
        "unmapped",
        "use_catalog",
    ],
    "cairn.artifacts": [
        "Artifact",
        "ArtifactResponse",
        "ImageArtifact",
        "LinkArtifact",
        "MarkdownArtifact",
        "ProgressArtifact",
        "TableArtifact",
        "acreate_image_artifact",
        "acreate_link_artifact",
        "acreate_markdown_artifact",
        "acreate_progress_artifact",
        "acreate_table_artifact",
        "aupdate_progress_artifact",
        "create_image_artifact",
        "create_link_artifact",
        "create_markdown_artifact",
        "create_progress_artifact",
        "create_table_artifact",
        "update_progress_artifact",
    ],
    "cairn.objects": [
        "HASH_ALGORITHM",
        "MIN_PREFIX",
        "FsspecObjectStore",
        "LocalObjectStore",
        "MemoryObjectStore",
        "ObjectId",
        "ObjectStat",
        "ObjectStore",
        "S3ObjectStore",
        "check_object_id",
        "check_prefix",
        "id_to_path",
        "object_id",
    ],
    "cairn.refs": [
        "LocalRefStore",
        "MemoryRefStore",
        "RefName",
        "RefStore",
        "S3RefStore",
        "check_ref_name",
        "decode_ref_value",
        "encode_ref_value",
    ],
    "cairn.runtime": [
        "Flow",
        "MaterializingTask",
        "Task",
        "TaskRunFuture",
        "TaskRunFutureList",
        "UpstreamTaskError",
        "flow",
        "flow_run",
        "materialize",
        "task",
        "task_run",
        "unmapped",
    ],
    "cairn.assets": [
        "Asset",
        "AssetProperties",
        "MaterializingTask",
        "add_asset_metadata",
        "materialize",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_what_we_decided(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_class_and_function_is_documented(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__
    for name in mod.__all__:
        value = getattr(mod, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            assert inspect.getdoc(value), f"{module}.{name} has no docstring"


def test_errors_derive_from_one_root_and_the_matching_builtins() -> None:
    from cairn import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.CatalogError), name
    assert issubclass(errors.InvalidKeyError, ValueError)
    assert issubclass(errors.InvalidAssetKeyError, errors.InvalidKeyError)
    assert issubclass(errors.ArtifactNotFoundError, KeyError)
    assert issubclass(errors.ObjectNotFoundError, KeyError)
    assert issubclass(errors.AmbiguousIdError, LookupError)
    assert issubclass(errors.WrongTypeError, TypeError)
    # Refused data: invalid input (a ValueError), and a TypeError as json.dumps raises.
    assert issubclass(errors.InvalidDataError, errors.InvalidInputError)
    assert issubclass(errors.InvalidDataError, TypeError)
    assert issubclass(errors.StorageError, OSError)
    # KeyError quotes its message; ours read plainly.
    assert str(errors.ArtifactNotFoundError("Artifact 'x' not found.")) == "Artifact 'x' not found."


def test_import_cairn_loads_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cairn; "
        "heavy = [m for m in ('pyarrow', 'fsspec', 'rich', 'pandas', 'polars', 'typer') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
