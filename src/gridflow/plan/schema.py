"""JSON schemas of variable types, for the forms schedulers show when a run
is triggered (Airflow DAG params, Prefect deployment parameters)."""

from __future__ import annotations

from typing import Any

from gridflow.plan.models import TypeSpec


def json_schema(spec: TypeSpec) -> dict[str, Any]:
    """A JSON schema for a variable type, as trigger forms (Airflow's params,
    Prefect's deployment parameters) read it."""
    if spec.kind == "string":
        return {"type": "string"}
    if spec.kind == "number":
        return {"type": "number"}
    if spec.kind == "bool":
        return {"type": "boolean"}
    if spec.kind in ("list", "set"):
        schema: dict[str, Any] = {"type": "array"}
        if spec.elem is not None and spec.elem.kind != "any":
            schema["items"] = json_schema(spec.elem)
        if spec.kind == "set":
            schema["uniqueItems"] = True
        return schema
    if spec.kind == "tuple":
        return {"type": "array", "minItems": len(spec.items), "maxItems": len(spec.items)}
    if spec.kind == "map":
        schema = {"type": "object"}
        if spec.elem is not None and spec.elem.kind != "any":
            schema["additionalProperties"] = json_schema(spec.elem)
        return schema
    if spec.kind == "object":
        return {
            "type": "object",
            "properties": {k: json_schema(v) for k, v in spec.fields.items()},
            "required": [k for k in spec.fields if k not in spec.optional],
        }
    return {}  # any


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if kind is None:
        return schema
    return {**schema, "type": [kind, "null"]}
