"""The JSON Schema of the automation language, generated from the models and kept in the repository."""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

from automations.language.model import Automation

SCHEMA_ID = "https://automations.dev/schema/automation.schema.json"


def generate() -> dict[str, Any]:
    """The schema as the models define it today."""
    schema = Automation.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_schema() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


def stored() -> dict[str, Any]:
    """The schema file shipped with the package (what the API publishes)."""
    text = resources.files("automations.language").joinpath("automation.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def main() -> None:
    sys.stdout.write(render_schema())


if __name__ == "__main__":
    main()
