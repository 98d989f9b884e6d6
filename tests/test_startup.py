"""Start-up: the commands an agent runs often never load the Anthropic SDK, and a run loads only its client
(issue 26, item 10). Each command runs in its own interpreter, against a local Messages API server."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SKILL

from autoresearch.sim.server import MessagesServer

PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print('LOADED ' + json.dumps(sorted(m for m in sys.modules "
         "if m.split('.')[0] == 'anthropic')), file=sys.stderr))\n"
         "import json\nfrom autoresearch.cli.main import main\nmain()\n")
SUITE = """\
skill: notes/SKILL.md
runs: 5
model: anthropic:claude-sonnet-4-5
judge: sim
inputs:
  - {id: one, text: 'Ann: I will send the report by Friday.'}
  - {id: two, text: 'Bob: I will fix the build today.', split: holdout}
evals:
  - {id: summary, question: 'Does it mention a summary?', check: {type: icontains, value: summary}}
"""


def loaded_sdk_modules(project, server, *args):
    env = {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": server.url}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    return done, json.loads(line[len("LOADED "):])


@pytest.fixture
def project(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "SKILL.md").write_text(SKILL)
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "new.md").write_text("- Start with a one-line summary.\n- List the action items.\n")
    return tmp_path


def test_validate_status_and_next_never_load_the_sdk_and_a_run_loads_only_its_client(project):
    with MessagesServer() as server:
        done, modules = loaded_sdk_modules(project, server, "run", "suite.yaml", "--baseline-only",
                                           "--max-experiments", "3", "--run-id", "r")
        assert done.returncode == 0, done.stderr
        assert "anthropic._client" in modules  # the client ran the baseline over HTTP...
        assert "anthropic.lib.vertex" not in modules and "anthropic.lib.bedrock" not in modules  # ...alone
        assert len(modules) < sdk_module_files() / 2, len(modules)  # not every type the SDK's packages re-export
        for args in (["validate", "suite.yaml"], ["status", "r"], ["next", "r"]):
            done, modules = loaded_sdk_modules(project, server, *args)
            assert done.returncode == 0, (args, done.stderr)
            assert modules == [], (args, modules[:5])
        done, modules = loaded_sdk_modules(project, server, "try", "r", "--section", "notes/format", "--file",
                                           "new.md", "--hypothesis", "summary first", "--kind", "clarify")
        assert done.returncode in (0, 1), done.stderr
        assert "anthropic.lib.vertex" not in modules and "anthropic.lib.bedrock" not in modules
        assert len(modules) < sdk_module_files() / 2, len(modules)


def sdk_module_files():
    """How many modules the installed SDK has (its .py files)."""
    return sum(1 for folder in importlib.util.find_spec("anthropic").submodule_search_locations
               for _ in Path(folder).rglob("*.py"))


NAMES_PROBE = """
import json, sys, types
if sys.argv[1] == "lean":
    from autoresearch.models.sdk import client_sdk
    client_sdk()
import anthropic, anthropic.types, anthropic.types.beta, anthropic.resources
def named(value):
    if isinstance(value, types.ModuleType):
        return value.__name__
    return getattr(value, "__module__", "") + "." + getattr(value, "__qualname__", type(value).__name__)
def exported(package, name):  # a public name, not a submodule that some import happened to load
    return (not name.startswith("_") or name in ("__version__", "__all__")) and \
        getattr(getattr(sys.modules[package], name), "__name__", None) != f"{package}.{name}"
names = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {
    package: [n for n in dir(sys.modules[package]) if exported(package, n)]
    for package in ("anthropic", "anthropic.types", "anthropic.types.beta", "anthropic.resources")}
print(json.dumps({package: {n: named(getattr(sys.modules[package], n)) if n != "__version__"
                            else anthropic.__version__ for n in listed} for package, listed in names.items()}))
"""


def test_after_the_lean_client_the_sdk_answers_every_name_as_a_plain_import_does():
    whole = json.loads(subprocess.run([sys.executable, "-c", NAMES_PROBE, "whole"], capture_output=True, text=True,
                                      check=True, timeout=300).stdout)
    asked = json.dumps({package: sorted(names) for package, names in whole.items()})
    done = subprocess.run([sys.executable, "-c", NAMES_PROBE, "lean", asked], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == whole
