"""Files capcover reads to find a Prefect API (docs/threat-model.md, rule F6): `.env`,
`prefect.toml`, `pyproject.toml` and the Prefect profiles file, in any shape a hand edit can
leave them (not TOML, not UTF-8, tables where strings belong and the reverse), are read without
importing Prefect and without ever failing: what cannot be read counts as no Prefect API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.flows.prefect_env import ApiSource, configured_api

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
VALUES = st.recursive(
    SCALARS.filter(lambda v: v is not None),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _toml(doc: dict) -> str:
    lines = []
    for key, value in doc.items():
        lines.append(f"{json.dumps(key)} = {_literal(value)}")
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_literal(v)}" for k, v in value.items()) + "}"


KEYS = st.sampled_from(["profiles", "active", "api", "tool", "profiles_path", "x"])
DOCS = st.dictionaries(KEYS, VALUES, max_size=4).map(_toml)
TEXT = DOCS | st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1"))


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    profiles=TEXT,
    prefect_toml=TEXT,
    pyproject=TEXT,
    dotenv=st.text(max_size=60),
    profile=st.none() | st.text(min_size=1, max_size=8),
)
def test_files_read_prefect_discovery_never_fails_on_any_file(
    profiles, prefect_toml, pyproject, dotenv, profile
):
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        for name, text in (
            ("profiles.toml", profiles),
            ("prefect.toml", prefect_toml),
            ("pyproject.toml", pyproject),
            (".env", dotenv),
        ):
            (home / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        env = {"PREFECT_HOME": str(home)}
        if profile is not None:
            env["PREFECT_PROFILE"] = profile
        found = configured_api(env, home)
    assert isinstance(found, ApiSource)
    assert found.url is None or isinstance(found.url, str)
