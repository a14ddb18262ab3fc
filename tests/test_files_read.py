"""Files capcover reads to find a Prefect API (docs/threat-model.md, rule F6): `.env`,
`prefect.toml`, `pyproject.toml` and the Prefect profiles file, in any shape a hand edit can
leave them (not TOML, not UTF-8, tables where strings belong and the reverse), never make the
lookup fail. The cheap pre-check (`named_in_sources`) reads them without importing Prefect;
when it sends the lookup to Prefect's own settings (`prefect_api`) and those cannot be read
either, that counts as no Prefect API, said in one line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.flows.prefect_env import ApiSource, named_in_sources, prefect_api

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


def _files(home: Path, profiles: str, prefect_toml: str, pyproject: str, dotenv: str) -> None:
    for name, text in (
        ("profiles.toml", profiles),
        ("prefect.toml", prefect_toml),
        ("pyproject.toml", pyproject),
        (".env", dotenv),
    ):
        (home / name).write_text(text, encoding="utf-8", errors="surrogatepass")


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
        _files(home, profiles, prefect_toml, pyproject, dotenv)
        env = {"PREFECT_HOME": str(home)}
        if profile is not None:
            env["PREFECT_PROFILE"] = profile
        found = named_in_sources(env, home)
    assert found is None or isinstance(found, str)


def _prefect_imported() -> None:
    """Prefect keeps the settings it found when first imported, for the whole process: import
    it under the session's own environment before a test changes PREFECT_HOME and the profile
    (a later test's Prefect flow would otherwise use this test's deleted folder)."""
    import prefect.settings  # noqa: F401


# Profiles files Prefect's own loader fails on (TypeError, AttributeError, a ValidationError),
# and any other file of the class above.
ODD_PROFILES = st.sampled_from(
    [
        "profiles = 3\n",
        'active = "x"\nprofiles = [1, 2]\n',
        'active = "x"\n[profiles]\nx = "str"\n',
        'active = "x"\n[profiles.x]\nPREFECT_API_URL = 5\n',
        'active = "x"\n[profiles.x]\nPREFECT_API_URL = ["http://127.0.0.1:1/api"]\n',
        "not toml [[[\n",
    ]
)


@settings(derandomize=True, deadline=None, max_examples=40)
@given(
    profiles=ODD_PROFILES | TEXT,
    prefect_toml=TEXT,
    pyproject=TEXT,
    profile=st.sampled_from(["x", "ephemeral", "missing"]),
)
def test_files_read_prefect_api_counts_an_unreadable_file_as_no_api(
    profiles, prefect_toml, pyproject, profile
):
    """The whole lookup `run`, `serve` and `status` use, Prefect's settings included: any
    file shape ends as an answer (a URL, or None with the reason on one line)."""
    _prefect_imported()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        _files(home, profiles, prefect_toml, pyproject, "")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(home), PREFECT_PROFILE=profile)
        before = Path.cwd()
        with mock.patch.dict(os.environ, env, clear=True):
            os.chdir(home)
            try:
                found = prefect_api()
            finally:
                os.chdir(before)
    assert isinstance(found, ApiSource)
    assert found.url is None or isinstance(found.url, str)
    assert "\n" not in found.where


def test_files_read_prefect_api_names_why_prefect_settings_were_unreadable(tmp_path):
    _prefect_imported()
    (tmp_path / "profiles.toml").write_text('active = "x"\n[profiles]\nx = "str"\n')
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_PROFILE="x")
    before = Path.cwd()
    with mock.patch.dict(os.environ, env, clear=True):
        os.chdir(tmp_path)
        try:
            found = prefect_api()
        finally:
            os.chdir(before)
    assert found.url is None
    assert found.where.startswith("Prefect's settings could not be read (AttributeError: ")
    assert found.where.endswith("; looked: PREFECT_PROFILE)")
