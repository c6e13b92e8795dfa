"""docs/configuration.md's table says what each variable does when it is not set: the
test reads banana_site/settings.py in a clean development environment and holds every
default the table states to what the settings then hold."""

import ast
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "configuration.md"
SETTINGS = ROOT / "banana_site" / "settings.py"
# gunicorn's own variables are read where gunicorn reads them.
GUNICORN_CONF = ROOT / "gunicorn.conf.py"

# Rows whose default is said in words: what the words claim, of the setting's value.
SAID_IN_WORDS = {
    "SECRET_KEY": lambda key: key.startswith("django-insecure"),
    "ALLOWED_HOSTS": lambda hosts: set(hosts) <= {"127.0.0.1", "localhost", "[::1]", "testserver"},
    "DATABASE_URL": lambda url: url == f"sqlite:///{ROOT / 'var' / 'db.sqlite3'}",
    "BANANA_API_KEY": lambda key: key == _emulator_key(),
    "S3_BUCKET": lambda bucket: bucket == "",
    "BANANA_STORAGE_QUOTA": lambda quota: quota == 0,
    "BANANA_RETENTION_DAYS": lambda days: days == 0,
    "BANANA_MODELS": lambda models: len(models) == 6,
    "BANANA_FETCH_ALLOWED_HOSTS": lambda hosts: hosts == [],
    "BANANA_PRICES": lambda prices: all(p == {"": "0.5", "4k": "1.0"} for p in prices.values()),
    "TRUSTED_PROXIES": lambda networks: networks == [],
    # No pool in development (SQLite, runserver); gunicorn's processes get one of 8.
    "DB_POOL_SIZE": lambda size: size == 0,
    "DB_POOL_TIMEOUT": lambda seconds: seconds == 5.0,
    "GUNICORN_CONTROL_SOCKET": lambda path: path == "",
}


def _emulator_key():
    from emulator.config import DEFAULT_API_KEY

    return DEFAULT_API_KEY


def table_rows():
    """(variables, the defaults column) of each row of the table."""
    rows = []
    for line in TABLE.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), cells[-1]))
    return rows


def settings_reads():
    """{variable: how the settings default it}: the default of its `env.…("VARIABLE", …)`
    read (at any depth of settings.py, or an `os.environ.get` of gunicorn.conf.py), else
    (read by a helper of settings.py) the setting it is assigned to."""
    reads = {}
    for source in (SETTINGS, GUNICORN_CONF):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            for call in ast.walk(node.value):
                if not isinstance(call, ast.Call) or not call.args:
                    continue
                first = call.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                function = ast.unparse(call.func)
                defaults = [k.value for k in call.keywords if k.arg == "default"]
                defaults += call.args[1:2]
                if function.startswith(("env", "os.environ.get")) and defaults:
                    reads.setdefault(first.value, ast.unparse(defaults[0]))
                elif source == SETTINGS and isinstance(target, ast.Name):
                    reads.setdefault(first.value, target.id)
    return reads


@pytest.fixture(scope="module")
def development_settings():
    """Each table variable's default, as a clean development environment reads it."""
    reads = settings_reads()
    wanted = {v: reads.get(v, v) for variables, _d in table_rows() for v in variables}
    script = (
        "import json, sys\n"
        "from banana_site import settings\n"
        "wanted = json.loads(sys.argv[1])\n"
        "print(json.dumps({v: eval(e, vars(settings)) for v, e in wanted.items()}, default=str))\n"
    )
    environment = {"PATH": os.environ["PATH"], "DEBUG": "true", "HOME": str(ROOT / "var")}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(wanted)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def same(written, value):
    if written in ("true", "false"):
        return value is (written == "true")
    if isinstance(value, int | float | Decimal) or (
        isinstance(value, str) and re.fullmatch(r"-?[\d.]+", value)
    ):
        try:
            return Decimal(written) == Decimal(str(value))
        except ArithmeticError:
            return False
    if isinstance(value, str) and value.startswith(str(ROOT)):
        value = str(Path(value).relative_to(ROOT))
    return written == value


def test_every_default_the_configuration_table_states_is_the_settings_own(
    development_settings,
):
    wrong = []
    for variables, default in table_rows():
        written = re.findall(r"`([^`]+)`", default)
        if all(variable in SAID_IN_WORDS for variable in variables):
            wrong += [
                (variable, default, development_settings[variable])
                for variable in variables
                if not SAID_IN_WORDS[variable](development_settings[variable])
            ]
            continue
        assert len(written) >= len(variables), f"{variables}: say each default as `value`"
        wrong += [
            (variable, said, development_settings[variable])
            for variable, said in zip(variables, written, strict=False)
            if not same(said, development_settings[variable])
        ]
    assert wrong == []


def test_every_variable_in_the_table_is_read_by_the_settings():
    read = settings_reads()
    documented = {variable for variables, _default in table_rows() for variable in variables}
    assert documented - set(read) == set()


def test_the_check_finds_a_default_that_drifted(development_settings):
    assert not same("5", development_settings["BANANA_POLL_INTERVAL"])
    assert same("3", development_settings["BANANA_POLL_INTERVAL"])
    assert not same("true", development_settings["BEHIND_TLS_PROXY"])
