"""nbgrader's check of each cell's metadata, with its JSON schema checked once instead of per cell.

nbgrader validates the ``nbgrader`` metadata of every cell with ``jsonschema.validate(metadata,
schema)``, and that function first validates the *schema* against JSON Schema's meta-schema, on
every call: an Assignment 1 notebook has 38 cells and is checked twice per submission (nbgrader's
sanitising step and the autograde step), so about 76 meta-schema checks per submission, about a
sixth of the grading process's CPU in a profile of two honest submissions.

:func:`check_schemas_once` makes nbgrader's metadata module use :class:`SchemaCheckedOnce`
instead of the ``jsonschema`` module: the same checks and the same errors (``check_schema`` once
per distinct schema, then the schema's validator, raising ``best_match`` of its errors, as
``jsonschema.validate`` does), with the schema's validator kept. The grading process calls it
before its first submission.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match


class SchemaCheckedOnce:
    """Stands in for the ``jsonschema`` module where nbgrader calls ``jsonschema.validate``."""

    ValidationError = jsonschema.ValidationError

    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}

    def validate(self, instance: Any, schema: dict[str, Any]) -> None:
        """Raise ``jsonschema.ValidationError`` (the best match) unless ``instance`` fits ``schema``."""
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)  # a broken schema raises SchemaError, as before
            validator = self._validators[key] = cls(schema)
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


def check_schemas_once() -> None:
    """Make nbgrader's cell-metadata checks (``nbgrader.nbgraderformat``) check their schema once."""
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, SchemaCheckedOnce):
        common.jsonschema = SchemaCheckedOnce()
