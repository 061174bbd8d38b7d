#!/usr/bin/env python3
"""Generate the parameters table of the chart README from the comments in values.yaml.

    scripts/chart-readme.py           rewrite the table in charts/pod-identity-webhook/README.md
    scripts/chart-readme.py --check   exit 1 with a diff if the table is stale

Every key of values.yaml carries a `# -- description` comment (continued on following `#`
lines) right above it; the table lists every key with its type (from values.schema.json), its
default (from values.yaml) and that description, between the README's
`<!-- parameters:start -->` and `<!-- parameters:end -->` markers. A mapping whose first key has
its own comment is a section, listed key by key; any other value (e.g. `resources`) is one row
with its whole default. A key without a comment, a
key the schema does not know, or a schema key values.yaml lacks is an error: the values file,
the schema and the README stay in step.
"""
import argparse
import difflib
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "pod-identity-webhook")
START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"
# Keys of the schema that values.yaml leaves out on purpose.
SCHEMA_ONLY = {"global"}


def comment_above(lines, node):
    """The `# --` description right above a key, or None."""
    line, column = node.start_mark.line, node.start_mark.column
    block = []
    index = line - 1
    while index >= 0 and lines[index].strip().startswith("#"):
        block.insert(0, lines[index])
        index -= 1
    for start in range(len(block) - 1, -1, -1):
        text = block[start]
        if text.strip().startswith("# --"):
            if len(text) - len(text.lstrip()) != column:
                return None
            parts = [text.strip()[len("# --"):].strip()]
            parts += [other.strip()[1:].strip() for other in block[start + 1:]]
            return " ".join(part for part in parts if part)
    return None


def schema_type(schema):
    if "type" in schema:
        kinds = schema["type"]
        return " or ".join(kinds) if isinstance(kinds, list) else kinds
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(schema_type(option) for option in schema[combinator])
    return "any"


def walk(lines, mapping, schema, prefix, rows, problems):
    """Rows for every key of a YAML mapping node; recurses where the schema lists properties."""
    properties = schema.get("properties") or {}
    seen = set()
    for key_node, value_node in mapping.value:
        key = key_node.value
        path = f"{prefix}{key}"
        seen.add(key)
        description = comment_above(lines, key_node)
        if description is None:
            problems.append(f"values.yaml: {path} has no `# -- description` comment right above it")
        if key not in properties:
            problems.append(f"values.schema.json does not know {path}")
            continue
        child = properties[key]
        # A mapping is a section, documented key by key, when its first key has a `# --`
        # comment; otherwise (resources, namespaceSelector) it is one value with a default.
        nested = (isinstance(value_node, yaml.MappingNode) and value_node.value and child.get("properties")
                  and comment_above(lines, value_node.value[0][0]) is not None)
        value = yaml.safe_load(yaml.serialize(value_node))
        rows.append((path, schema_type(child), None if nested else value, description or ""))
        if nested:
            walk(lines, value_node, child, f"{path}.", rows, problems)
    for key in properties:
        if key not in seen and not (prefix == "" and key in SCHEMA_ONLY):
            problems.append(f"values.yaml lacks {prefix}{key}, which values.schema.json lists")


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows):
    out = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for path, kind, value, description in rows:
        default = "" if value is None else f"`{cell(json.dumps(value, ensure_ascii=False))}`"
        out.append(f"| `{path}` | {kind} | {default} | {cell(description)} |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff if the README table is stale")
    parser.add_argument("--chart", default=CHART, help="the chart directory (default: %(default)s)")
    arguments = parser.parse_args()

    values_path = os.path.join(arguments.chart, "values.yaml")
    readme_path = os.path.join(arguments.chart, "README.md")
    with open(values_path) as handle:
        text = handle.read()
    with open(os.path.join(arguments.chart, "values.schema.json")) as handle:
        schema = json.load(handle)
    root = yaml.compose(text)
    rows, problems = [], []
    walk(text.splitlines(), root, schema, "", rows, problems)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(1)

    with open(readme_path) as handle:
        readme = handle.read()
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        sys.exit(f"error: {readme_path} needs one {START} line followed by one {END} line")
    before, rest = readme.split(START, 1)
    after = rest.split(END, 1)[1]
    updated = f"{before}{START}\n{table(rows)}\n{END}{after}"
    if updated == readme:
        print(f"{os.path.relpath(readme_path, ROOT)}: parameters table is current ({len(rows)} keys)")
        return
    if arguments.check:
        diff = difflib.unified_diff(readme.splitlines(keepends=True), updated.splitlines(keepends=True),
                                    "README.md (committed)", "README.md (from values.yaml)")
        sys.stdout.writelines(diff)
        print(f"\nerror: the parameters table of {readme_path} is stale; run scripts/chart-readme.py", file=sys.stderr)
        sys.exit(1)
    with open(readme_path, "w") as handle:
        handle.write(updated)
    print(f"{os.path.relpath(readme_path, ROOT)}: parameters table rewritten ({len(rows)} keys)")


if __name__ == "__main__":
    main()
