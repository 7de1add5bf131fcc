"""nbgrader's cell-metadata check with its schema checked once: the same verdicts, one schema check."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError, common

from course_utils.grading.metadata_schema import SchemaCheckedOnce, check_schemas_once

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "assignment1" / "conv1d.ipynb"


def _graded_metadata() -> list[dict]:
    notebook = nbformat.read(SOLUTION, as_version=4)
    return [dict(c.metadata["nbgrader"]) for c in notebook.cells if "nbgrader" in c.metadata]


def _broken(metadata: dict) -> list[dict]:
    """Metadata nbgrader's schema refuses: wrong types, a missing key, an unknown schema field."""
    cases = []
    for key, value in (("points", "ten"), ("grade", "yes"), ("grade_id", 7)):
        changed = copy.deepcopy(metadata)
        changed[key] = value
        cases.append(changed)
    missing = copy.deepcopy(metadata)
    missing.pop("locked")
    return [*cases, missing]


def test_the_same_verdicts_and_errors_as_jsonschema():
    schema = MetadataValidator().schema
    once = SchemaCheckedOnce()
    graded = _graded_metadata()
    assert len(graded) > 10
    for metadata in graded:
        jsonschema.validate(metadata, schema)
        once.validate(metadata, schema)  # accepted by both
    for metadata in _broken(next(m for m in graded if m.get("grade"))):
        with pytest.raises(jsonschema.ValidationError) as theirs:
            jsonschema.validate(metadata, schema)
        with pytest.raises(jsonschema.ValidationError) as ours:
            once.validate(metadata, schema)
        assert str(ours.value) == str(theirs.value)


def test_the_schema_is_checked_once_per_distinct_schema(monkeypatch):
    schema = MetadataValidator().schema
    calls = []
    cls = jsonschema.validators.validator_for(schema)
    original = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", lambda s: calls.append(1) or original(s))
    once = SchemaCheckedOnce()
    for metadata in _graded_metadata() * 3:
        once.validate(metadata, copy.deepcopy(schema))  # a new dict each time, as nbgrader reads it
    assert len(calls) == 1
    with pytest.raises(jsonschema.SchemaError):
        once.validate({}, {"type": 12})  # a broken schema still fails


def test_nbgrader_still_refuses_corrupted_metadata(monkeypatch):
    monkeypatch.setattr(common, "jsonschema", common.jsonschema)  # restored after the test
    check_schemas_once()
    assert isinstance(common.jsonschema, SchemaCheckedOnce)
    notebook = nbformat.read(SOLUTION, as_version=4)
    MetadataValidator().validate_nb(notebook)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade"))
    cell.metadata["nbgrader"]["points"] = "ten"
    with pytest.raises(ValidationError):
        MetadataValidator().validate_nb(notebook)
