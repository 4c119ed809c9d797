"""Every command README.md shows works as written on a fresh clone after `make run` (issue 16).

Each command of the README's ```sh blocks has an entry in CHECKS: the test here that runs it
for real, or where it is covered instead. A README command without an entry, or an entry the
README no longer shows, fails `test_every_readme_command_has_a_check`. What runs is the
README's own text, with only the port, the database name and the Redis database changed so
that nothing a developer has (port 8000, db.sqlite3, a `catalog` database) is touched."""

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
README = BASE_DIR / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```sh\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
CONFIG_PREFIXES = ("DJANGO_", "JWT_", "API_", "CORS_", "GUNICORN_", "MAKE", "MFLAGS")
CONFIG_NAMES = {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "PASSWORD_RESET_URL", "HOST", "PORT"}
POSTGRES = "postgres://postgres@127.0.0.1:5432"
THE_SUITE = (
    "elsewhere: it is the suite this file belongs to; .ci/run runs it on SQLite (stage sqlite) "
    "and, with the PostgreSQL block's variables, on PostgreSQL and Redis (stage postgres)"
)
MAKE_RUN = "test_make_run_serves_the_api_the_readme_tries"
CSV = "test_export_and_import_round_trip_the_demo_catalog"
POSTGRES_BLOCK = "test_postgresql_block_creates_and_migrates_its_database"
MAKE_TARGETS = "test_make_targets_in_a_copy_of_the_project"
DEPLOY_CHECK = "test_deployment_checks_find_nothing"
NEW_KEY = "import secrets; print(secrets.token_urlsafe(50))"
AUTH = "-H 'Content-Type: application/json' -d"
ADA_LOGIN = """'{"username": "ada@example.com", "password": "a long passphrase"}'"""
ADA_SIGNUP = (
    """'{"username": "ada", "email": "ada@example.com", "password": "a long passphrase"}'"""
)
FILES = "--categories categories.csv --products products.csv"

# README command (continuation lines joined, trailing comment dropped) -> how it is checked.
CHECKS = {
    "make run": MAKE_RUN,
    "make test": THE_SUITE,
    f"curl -s -X POST localhost:8000/api/v1/auth/register/ {AUTH} {ADA_SIGNUP}": MAKE_RUN,
    f"curl -s -X POST localhost:8000/api/v1/auth/token/ {AUTH} {ADA_LOGIN}": MAKE_RUN,
    f"ACCESS=$(curl -s -X POST localhost:8000/api/v1/auth/token/ {AUTH} {ADA_LOGIN}"
    """ | python3 -c 'import json, sys; print(json.load(sys.stdin)["access"])')""": MAKE_RUN,
    'curl -s localhost:8000/api/v1/users/me/ -H "Authorization: Bearer $ACCESS"': MAKE_RUN,
    f"DJANGO_DEBUG=true .venv/bin/python manage.py export_catalog {FILES}": CSV,
    f"DJANGO_DEBUG=true .venv/bin/python manage.py import_catalog {FILES} [--dry-run]": CSV,
    "createdb -h 127.0.0.1 -U postgres catalog": POSTGRES_BLOCK,
    "export DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalog"
    " REDIS_URL=redis://127.0.0.1:6379/0": POSTGRES_BLOCK,
    "DJANGO_DEBUG=true .venv/bin/python manage.py migrate": POSTGRES_BLOCK,
    "DJANGO_DEBUG=true .venv/bin/python manage.py createsuperuser": (
        "test_createsuperuser_prompts_and_makes_a_superuser"
    ),
    "make schema": MAKE_TARGETS,
    "make client": MAKE_TARGETS,
    "make format": MAKE_TARGETS,
    "make clean": MAKE_TARGETS,
    ".venv-dev/bin/pytest tests/products -k search": "test_a_part_of_the_suite_runs",
    "DJANGO_DEBUG=true .venv/bin/python manage.py seed_demo --products 100000 --reset": (
        "test_seed_demo_makes_the_bigger_catalog"
    ),
    f"export DJANGO_SECRET_KEY=\"$(python3 -c '{NEW_KEY}')\"": DEPLOY_CHECK,
    "export DJANGO_ALLOWED_HOSTS=api.example.com DJANGO_HTTPS=true": DEPLOY_CHECK,
    ".venv/bin/python manage.py check --deploy --fail-level WARNING": DEPLOY_CHECK,
    "make serve": "test_make_serve_migrates_and_serves",
    "make e2e": "test_ci_runs_make_e2e",
    "E2E_TOPOLOGY=1 make e2e": "test_ci_runs_make_e2e",
    ".venv/bin/celery -A backend worker --beat --loglevel INFO": (
        "elsewhere: tests/ops/test_outbox.py runs it as written (from its own virtualenv), "
        "with a broker and a mail server of its own"
    ),
}
# Commands named in the README's prose (`make run` prints …) are only mentions of the ones above.
INLINE = re.compile(r"`((?:make|\.venv|\.venv-dev|python3?|curl|createdb|[A-Z_]+=[^`\s]+) [^`]*)`")


def readme_blocks() -> list[str]:
    """The text of each ```sh block, dedented (a block inside a list item is indented)."""
    blocks = []
    for match in FENCE.finditer(README.read_text()):
        indent = len(match["indent"])
        blocks.append("\n".join(line[indent:] for line in match["body"].splitlines()) + "\n")
    return blocks


def commands_of(block: str) -> list[str]:
    joined = re.sub(r"\s*\\\n\s*", " ", block)
    return [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines() if line.strip()]


def readme_commands() -> list[str]:
    return [command for block in readme_blocks() for command in commands_of(block)]


def block_with(command: str) -> str:
    return next(block for block in readme_blocks() if command in commands_of(block))


def development_environment(database: Path, **variables: str) -> dict[str, str]:
    """A developer's shell: none of the test run's configuration (pytest-env sets a secret key,
    .ci/run a PostgreSQL DATABASE_URL), and a database of this test's own."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIG_PREFIXES) and name not in CONFIG_NAMES
    }
    return environment | {"DATABASE_URL": f"sqlite:///{database}"} | variables


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(script: str, environment: dict[str, str], cwd: Path = BASE_DIR, timeout: int = 60):
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def query(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def wait_until_serving(server: subprocess.Popen, port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"`{what}` exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"`{what}` was not serving on port {port} after 60 s:\n{log.read_text()}")


def serve(command: str, environment: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Start `command` in a process group of its own (make, the server and its workers or
    autoreloader), its output in `log`; once it answers /healthz on `port`. The caller stops
    it with `os.killpg(server.pid, …)`."""
    with log.open("w") as output:
        server = subprocess.Popen(
            ["bash", "-c", command],
            cwd=BASE_DIR,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(server, port, log, command)
    except BaseException:
        os.killpg(server.pid, signal.SIGTERM)
        raise
    return server


@pytest.fixture(scope="module")
def after_make_run(tmp_path_factory):
    """`make run`, as the README says, on a SQLite file of its own and a free port; the server
    (make, runserver and its autoreloader: one process group) is stopped by its id at the end."""
    home = tmp_path_factory.mktemp("readme")
    database, log, port = home / "db.sqlite3", home / "make-run.log", free_port()
    environment = development_environment(database, PORT=str(port))
    server = serve("make run", environment, port, log)
    try:
        yield {"database": database, "port": port, "log": log, "home": home}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def test_every_readme_command_has_a_check():
    commands = readme_commands()
    assert sorted(set(commands) - CHECKS.keys()) == [], "README commands nobody checks"
    assert sorted(CHECKS.keys() - set(commands)) == [], "checks of commands the README dropped"
    tests_named = {check for check in CHECKS.values() if not check.startswith("elsewhere:")}
    assert tests_named <= set(globals()), "checks naming a test this file does not have"


def test_commands_in_the_prose_are_ones_a_block_shows():
    """A command the prose names in passing is one of the blocks' (and so checked): a new one
    belongs in a ```sh block. (`manage.py …` with an ellipsis names a family, not a command.)"""
    prose = FENCE.sub("", README.read_text())
    named = {span for span in INLINE.findall(prose) if "…" not in span}
    assert sorted(named - set(readme_commands())) == []


def test_make_run_serves_the_api_the_readme_tries(after_make_run):
    database, port = after_make_run["database"], after_make_run["port"]
    assert "admin / catalog-demo" in after_make_run["log"].read_text()
    assert query(database, "SELECT is_superuser FROM users_user WHERE username = 'admin'") == [(1,)]
    assert query(database, "SELECT count(*) FROM products_product") == [(300,)]

    trying = block_with(
        'curl -s localhost:8000/api/v1/users/me/ -H "Authorization: Bearer $ACCESS"'
    )
    result = run(trying.replace("localhost:8000", f"localhost:{port}"), os.environ.copy())

    assert result.returncode == 0, result.stderr
    # curl prints each body without a newline: register's, the tokens, then /users/me/.
    register, tokens, me = json_bodies(result.stdout)
    assert register["username"] == "ada"
    assert tokens.keys() == {"access", "refresh", "access_expires_at", "refresh_expires_at"}
    assert (me["username"], me["email"]) == ("ada", "ada@example.com")


def json_bodies(output: str) -> list[dict]:
    decoder, bodies, position = json.JSONDecoder(), [], 0
    while position < len(output):
        body, position = decoder.raw_decode(output, position)
        bodies.append(body)
    return bodies


def run_in_terminal(script: str, environment: dict[str, str], answers: list[tuple[str, str]]):
    """Run `script` on a pseudo-terminal of its own (createsuperuser prompts only on a terminal)
    and type each answer once its prompt has appeared: getpass flushes what was typed before."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=BASE_DIR,
        env=environment,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,  # no controlling terminal: getpass reads the one given
    )
    os.close(follower)
    transcript, unanswered, deadline = "", 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([leader], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(leader, 1024).decode(errors="replace")
        except OSError:  # the child closed the terminal
            break
        transcript += chunk
        tail = transcript[unanswered:]
        if answers and answers[0][0] in tail and tail.endswith(": "):
            os.write(leader, (answers.pop(0)[1] + "\n").encode())
            unanswered = len(transcript)
    os.close(leader)
    return process.wait(timeout=10), transcript


def test_createsuperuser_prompts_and_makes_a_superuser(after_make_run):
    database = after_make_run["database"]
    password = "a long passphrase for grace"
    status, transcript = run_in_terminal(
        "DJANGO_DEBUG=true .venv/bin/python manage.py createsuperuser",
        development_environment(database),
        [
            ("Username", "grace"),
            ("Email address", "grace@example.com"),
            ("Password", password),
            ("Password (again)", password),
        ],
    )

    assert status == 0, transcript
    assert "Superuser created successfully." in transcript
    assert password not in transcript
    rows = query(
        database, "SELECT is_superuser, is_staff FROM users_user WHERE email LIKE 'grace@%'"
    )
    assert rows == [(1, 1)]


def test_export_and_import_round_trip_the_demo_catalog(after_make_run):
    """Run where a developer would, yet write the CSV files into a directory of the test's own:
    there `.venv` and `manage.py` link to the checkout."""
    database, work = after_make_run["database"], after_make_run["home"] / "work"
    work.mkdir()
    (work / ".venv").symlink_to(BASE_DIR / ".venv")
    (work / "manage.py").symlink_to(BASE_DIR / "manage.py")
    environment = development_environment(database)
    export, load = (command for command, check in CHECKS.items() if check == CSV)

    exported = run(export, environment, cwd=work)
    assert exported.returncode == 0, exported.stderr
    assert len((work / "categories.csv").read_text().splitlines()) == 1 + 16
    assert len((work / "products.csv").read_text().splitlines()) == 1 + 300

    for variant, verb in [(" --dry-run", "would be"), ("", "were")]:
        loaded = run(load.replace(" [--dry-run]", variant), environment, cwd=work)
        assert loaded.returncode == 0, loaded.stderr
        assert "Categories: 0 created, 16 updated. Products: 0 created, 300 updated." in (
            loaded.stdout
        )
        assert f"(These {verb} written;" in loaded.stdout
    assert query(database, "SELECT count(*) FROM products_product") == [(300,)]


@pytest.mark.ops
def test_postgresql_block_creates_and_migrates_its_database(tmp_path):
    """The block as written, on a database of this test's own and Redis database 13; its
    `make test` is the suite itself (see THE_SUITE)."""
    name = f"catalog_readme_{uuid.uuid4().hex[:12]}"
    block = block_with("DJANGO_DEBUG=true .venv/bin/python manage.py migrate")
    script = "\n".join(line for line in block.splitlines() if not line.startswith("make test"))
    script = re.sub(r"\bcatalog\b", name, script).replace("6379/0", "6379/13")
    assert name in script
    try:
        result = run(script, development_environment(tmp_path / "unused.sqlite3"))
        assert result.returncode == 0, result.stdout + result.stderr
        tables = subprocess.run(
            ["psql", f"{POSTGRES}/{name}", "-tAc", "SELECT count(*) FROM django_migrations"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert int(tables.stdout) > 0
    finally:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name],
            timeout=30,
            check=False,
        )


def test_deployment_checks_find_nothing(tmp_path):
    block = block_with(".venv/bin/python manage.py check --deploy --fail-level WARNING")
    result = run(block, development_environment(tmp_path / "unused.sqlite3"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_part_of_the_suite_runs(tmp_path):
    result = run(
        ".venv-dev/bin/pytest tests/products -k search",
        development_environment(tmp_path / "unused.sqlite3"),
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout)
    assert " failed" not in result.stdout


@pytest.mark.ops
def test_seed_demo_makes_the_bigger_catalog(tmp_path):
    database = tmp_path / "db.sqlite3"
    environment = development_environment(database)
    migrated = run("DJANGO_DEBUG=true .venv/bin/python manage.py migrate --noinput", environment)
    assert migrated.returncode == 0, migrated.stderr
    seed = next(command for command, check in CHECKS.items() if "seed_demo" in command)

    result = run(seed, environment, timeout=300)

    assert result.returncode == 0, result.stderr
    assert query(database, "SELECT count(*) FROM products_product") == [(100_000,)]
    assert query(database, "SELECT count(*) FROM products_category") == [(16,)]  # a 3-level tree


def project_copy(destination: Path) -> Path:
    """The checkout's tracked files (as they are in the working tree) in a git repository of
    their own, sharing the virtualenvs and the client's node_modules by symbolic links."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=BASE_DIR, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (BASE_DIR / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(BASE_DIR / name, destination / name)
    subprocess.run(["git", "init", "-q"], cwd=destination, check=True, timeout=30)
    for shared in (".venv", ".venv-dev", "clients/ts/node_modules"):
        if (BASE_DIR / shared).is_dir():
            (destination / shared).symlink_to(BASE_DIR / shared)
    return destination


@pytest.mark.ops
def test_make_targets_in_a_copy_of_the_project(tmp_path):
    """On an up-to-date tree, `make schema`, `make client` and `make format` succeed and change
    nothing (the schema, the client's types and the code are as committed); `make clean` then
    removes the virtualenvs (here: the links to them) and what the tools left behind."""
    copy = project_copy(tmp_path / "project")
    before = {path: path.read_bytes() for path in copy.rglob("*") if not _shared(copy, path)}
    environment = development_environment(tmp_path / "unused.sqlite3")

    for target in ("make schema", "make client", "make format"):
        result = run(target, environment, cwd=copy, timeout=300)
        assert result.returncode == 0, f"{target}:\n{result.stdout}{result.stderr}"
    changed = [
        str(path.relative_to(copy)) for path, text in before.items() if path.read_bytes() != text
    ]
    assert changed == []

    cleaned = run("make clean", environment, cwd=copy)
    assert cleaned.returncode == 0, cleaned.stderr
    built = (".venv", ".venv-dev", "clients/ts/node_modules", "staticfiles")
    assert [name for name in built if (copy / name).exists() or (copy / name).is_symlink()] == []
    assert (BASE_DIR / ".venv" / "bin" / "python").exists()


def _shared(copy: Path, path: Path) -> bool:
    relative = path.relative_to(copy).parts
    return (
        not path.is_file()
        or relative[0] in (".git", ".venv", ".venv-dev")
        or (relative[:3] == ("clients", "ts", "node_modules"))
    )


@pytest.mark.ops
def test_make_serve_migrates_and_serves(tmp_path):
    """`make serve` with a deployment's environment: a PostgreSQL database and Redis database
    of this test's own, a free port, one worker. Stopped by its process group at the end."""
    name, port = f"catalog_serve_{uuid.uuid4().hex[:12]}", free_port()
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True, timeout=30)
    environment = development_environment(
        tmp_path / "unused.sqlite3",
        DATABASE_URL=f"{POSTGRES}/{name}",
        REDIS_URL="redis://127.0.0.1:6379/13",
        DJANGO_SECRET_KEY=uuid.uuid4().hex * 2,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
    )
    server = serve("make serve", environment, port, tmp_path / "make-serve.log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/products/", timeout=5) as r:
            assert json.load(r)["count"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as ready:
            assert ready.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name],
            timeout=30,
            check=False,
        )


def test_ci_runs_make_e2e():
    """CI's e2e stage runs `E2E_TOPOLOGY=1 make e2e` for real, then checks the SQLite server
    plain `make e2e` starts (the same tests/e2e/live.py, the other place it runs) with the
    production-server tests; this test pins that stage to those commands."""
    ci = (BASE_DIR / ".ci" / "run").read_text()
    stage = re.search(r"^stage_e2e\(\) \{\n(.*?)^\}$", ci, re.M | re.S)
    assert stage, "no stage_e2e in .ci/run"
    commands = [
        line.strip() for line in stage[1].splitlines() if not line.strip().startswith("echo")
    ]
    assert commands == [
        "E2E_TOPOLOGY=1 make e2e",
        ".venv-dev/bin/pytest -m e2e tests/e2e/test_production_server.py -p no:randomly",
    ]
