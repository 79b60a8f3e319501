"""docs/CONFIG.md, generated: every key of the schema with its type, default and meaning, and the relations
the checks enforce beyond it (``python -m arithsignal config-docs``)."""

from __future__ import annotations

from .checks import RELATIONS

# a number's bounds: the schema's key, and how the page writes it
_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _resolve(schema: dict, node: dict) -> dict:
    """A schema node with its $ref and allOf folded in (the config schema uses both to share section definitions)."""
    out = dict(node)
    if "$ref" in out:
        out = {**_resolve(schema, schema["$defs"][out.pop("$ref").split("/")[-1]]), **out}
    for part in out.pop("allOf", []):
        part = _resolve(schema, part)
        out = {**part, **out, "properties": {**part.get("properties", {}), **out.get("properties", {})}}
    return out


def _kind(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kinds = node.get("type", "object" if "properties" in node else "")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    bounds = [f"{sym} {node[k]}" for k, sym in _BOUNDS if k in node]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _text(node: dict) -> str:
    """A node's description on one line."""
    return " ".join(node.get("description", "").split())


def _rows(schema: dict, node: dict, prefix: str) -> list[str]:
    node = _resolve(schema, node)
    required = set(node.get("required", []))
    rows = []
    for key, raw in node.get("properties", {}).items():
        sub = _resolve(schema, raw)
        name = f"{prefix}{key}"
        if "[]" in prefix and "$ref" in raw and "properties" in sub:  # a variant's overrides: any key of that section
            rows.append(f"| `{name}` | section (optional) | {_text(sub)}: any of its keys |")
            continue
        need = "" if key in required or not required else " (optional)"
        default = f" Default: `{sub['default']}`." if "default" in sub else ""
        if sub.get("type") == "array" and "properties" in _resolve(schema, sub.get("items", {})):
            rows.append(f"| `{name}` | list{need} | {_text(sub)}{default} |")
            rows += _rows(schema, sub["items"], f"{name}[].")
        elif "properties" in sub:
            rows.append(f"| `{name}` | section{need} | {_text(sub)} |")
            rows += _rows(schema, sub, f"{name}.")
        else:
            rows.append(f"| `{name}` | {_kind(sub)}{need} | {_text(sub)}{default} |")
    return rows


def reference_markdown(schema: dict) -> str:
    """docs/CONFIG.md: every key of the config from the schema's own descriptions (their one home), and every relation
    checks.check enforces beyond it. Written by ``python -m arithsignal config-docs``; a test keeps the page current."""
    out = [
        "# The config",
        "",
        "<!-- Generated from schemas/config.schema.yaml and the relations registered in arithsignal.config.checks",
        "     by `python -m arithsignal config-docs > docs/CONFIG.md`: edit those, not this page. -->",
        "",
        "`config.yaml` is the default experiment; a preset given with `--configfile=FILE` is merged over it",
        "(sections key by key, lists replaced), as `python -m arithsignal show --configfile FILE` shows. The whole",
        "config is checked against `schemas/config.schema.yaml` and then by `arithsignal.config.checks.check` before",
        "any job runs: an unknown key, a wrong type, a value out of range or a broken relation stops the workflow",
        "with a message naming the key.",
        "",
        "**Which keys change results.** A training run is keyed by its effective settings (its variant's `factors`,",
        "`model`, `optim`, `curriculum`, `graduation` and `train`, with `stages` and `data`) and its seed: change any",
        "of those and the runs that hold it train again, and only they. `evaluation`, `length`, `analysis`,",
        "`ablations`, `sweeps`, `scaling` and `minimal_model` reach only the jobs that read them (a rule's `params:`).",
        "`execution` changes no result: it is in no run's settings or hash, and changing it reruns no job.",
        "",
        _text(schema),
        "",
    ]
    for section, node in schema["properties"].items():
        node = _resolve(schema, node)
        optional = "" if section in schema.get("required", []) else " (optional)"
        out += [f"## `{section}`{optional}", "", _text(node), ""]
        rows = _rows(schema, node, f"{section}.") if "properties" in node else []
        if node.get("type") == "array" and "properties" in _resolve(schema, node.get("items", {})):
            rows = _rows(schema, node["items"], f"{section}[].")
        if rows:
            out += ["| key | value | meaning |", "| --- | --- | --- |", *rows, ""]
        else:
            out += [f"Value: {_kind(node)}.", ""]
    out += ["## Relations checked before any job", "", "Beyond the schema, `checks.check` refuses a config unless:", ""]
    out += [f"- {text} (`{relation}`)" for relation, text in RELATIONS.items()]
    return "\n".join(out) + "\n"
