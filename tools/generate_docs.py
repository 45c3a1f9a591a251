"""Regenerate the documents derived from the code: docs/benchmark.md, docs/config.schema.json and
reports/results.schema.json.

python tools/generate_docs.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cmkaudit.config import ConfigFile  # noqa: E402
from cmkaudit.evaluate.catalog import load_catalog  # noqa: E402
from cmkaudit.report.benchmark import benchmark_markdown  # noqa: E402
from cmkaudit.report.results import ResultsDocument  # noqa: E402


def config_schema() -> str:
    """The configuration file's JSON schema, as committed."""
    schema = ConfigFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cmkaudit configuration"
    return json.dumps(schema, indent=2) + "\n"


def results_schema() -> str:
    """The results file's JSON schema, as committed under reports/."""
    schema = ResultsDocument.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cmkaudit results (schema version 2)"
    return json.dumps(schema, indent=2) + "\n"


def main() -> int:
    docs = ROOT / "docs"
    (docs / "benchmark.md").write_text(benchmark_markdown(load_catalog()), encoding="utf-8")
    (docs / "config.schema.json").write_text(config_schema(), encoding="utf-8")
    (ROOT / "reports" / "results.schema.json").write_text(results_schema(), encoding="utf-8")
    print("wrote docs/benchmark.md, docs/config.schema.json and reports/results.schema.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
