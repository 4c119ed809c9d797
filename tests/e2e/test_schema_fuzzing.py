"""Schemathesis against the live server and the OpenAPI document it serves (/api/v1/schema/,
identical to schema.yml): API.md says the schema must describe exactly the contract, so every
answer to every generated request has to be one the schema allows.

The `schemathesis` CLI runs in a subprocess, configured by this module: every operation of the
schema (nothing is excluded), authenticated as the editor (staff with every catalog
permission), a fixed seed, at most MAX_EXAMPLES generated cases per operation in the fuzzing
phase, all four phases (explicit examples, of which the schema has none; coverage: boundary and
wrong-type values of every parameter and body field, the unexpected methods; fuzzing: random
valid and invalid cases; stateful: chains of calls along inferred links), positive and negative
data, on a single worker (the checks are deterministic, a multi-threaded run is not). The
checks are the issue's: no server error, status code documented for the operation, response
content type and body as documented. tests/e2e/fuzzing.py holds the hooks the CLI loads: the
editor's token, renewed before it expires, and real tokens, log-ins and reset links for the
operations random values can only be refused by.

A failure lists each distinct failing check, the operation, the check, the response and a curl
command that reproduces it. The full CLI output and its NDJSON event log stay in the test's
temporary directory (named in the report).

The run writes to the session's database: it registers accounts, creates, changes and deletes
products and categories, and may rename or deactivate any account that is not a superuser. The
editor's and the customer's accounts are put back afterwards (`shared_accounts`), so the other
end-to-end tests can still log in with live.ACCOUNTS; the catalog is not restored.
"""

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

SEED = 20240601
MAX_EXAMPLES = 40
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
RUN_TIMEOUT = 15 * 60  # seconds; a run takes a few minutes
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HOOKS = Path(__file__).with_name("fuzzing.py")

CONFIG = """\
seed = {seed}
workers = 1
hooks = "{hooks}"
request-timeout = 15
# Keep testing an operation after its first failure, so each distinct failure shows.
continue-on-failure = true

[auth]
# The hooks authenticate; no account of Schemathesis's own making.
auto-signup = false

[generation]
mode = "all"
max-examples = {max_examples}
# No example database: a run depends on the seed alone, and writes nothing to the project.
database = "none"

[phases.fuzzing.error-feedback]
enabled = false

[output.sanitization]
# The report replaces the run's own bearer tokens with $TOKEN; everything else shows as sent.
enabled = false

[checks]
enabled = false
{checks}
"""


def _api(server, method: str, path: str, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs
    )


def _log_in(server, account: dict) -> str:
    answer = _api(
        server,
        "POST",
        "/auth/token/",
        json={"username": account["username"], "password": account["password"]},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access"]


@pytest.fixture
def shared_accounts(live_server, accounts):
    """Put the editor's and the customer's accounts back as live.ACCOUNTS has them once the
    fuzzer is done: PUT/PATCH /users/me/ may rename the editor, PATCH /users/{id}/ may rename or
    deactivate the customer. The fuzzer cannot touch the admin (a superuser), nor change a
    password it does not know."""
    admin = _log_in(live_server, accounts["admin"])
    ids = {}
    for role in ("editor", "customer"):
        found = _api(
            live_server, "GET", "/users/", admin, params={"search": accounts[role]["username"]}
        ).json()["results"]
        username = accounts[role]["username"]
        ids[role] = next(user["id"] for user in found if user["username"] == username)
    yield
    admin = _log_in(live_server, accounts["admin"])
    for role, user_id in ids.items():
        account = accounts[role]
        answer = _api(
            live_server,
            "PATCH",
            f"/users/{user_id}/",
            admin,
            json={
                "username": account["username"],
                "email": account["email"],
                "first_name": "",
                "last_name": "",
                "is_active": True,
            },
        )
        assert answer.status_code == 200, f"could not restore {role}: {answer.text}"


def test_every_operation_answers_as_its_schema_says(
    live_server, accounts, shared_accounts, tmp_path
):
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(
            seed=SEED,
            hooks=HOOKS,
            max_examples=MAX_EXAMPLES,
            checks="\n".join(f"{check}.enabled = true" for check in CHECKS),
        )
    )
    reports = tmp_path / "reports"
    output = tmp_path / "schemathesis.txt"
    env = os.environ | {
        "FUZZ_BASE_URL": live_server.url,
        "FUZZ_ACCOUNTS": json.dumps(accounts),
        "FUZZ_MAIL_DIR": str(Path(live_server.directory.name) / "mail"),
        "PYTHONHASHSEED": "0",
    }
    env.pop("SCHEMATHESIS_HOOKS", None)
    started = time.monotonic()
    with output.open("w") as log:
        subprocess.run(
            [
                SCHEMATHESIS,
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{live_server.url}/api/v1/schema/",
                "--report",
                "ndjson,json",
                "--report-dir",
                str(reports),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    run = Run.read(reports, output, elapsed=time.monotonic() - started)
    assert run.passed, run.report()


# --- Reading the run -----------------------------------------------------------------------------


@dataclass
class Failure:
    operation: str
    check: str
    title: str
    message: str
    status: int | None
    curl: str
    response: str
    count: int = 1


@dataclass
class Run:
    output: Path
    elapsed: float
    summary_document: dict = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.summary_document.get("complete"))

    @property
    def passed(self) -> bool:
        return self.complete and not self.failures and not self.errors

    @classmethod
    def read(cls, reports: Path, output: Path, elapsed: float) -> "Run":
        run = cls(output=output, elapsed=elapsed)
        summaries = sorted(reports.glob("json-*.json"))
        if summaries:
            run.summary_document = json.loads(summaries[-1].read_text())
        distinct: dict[tuple, Failure] = {}
        for events in sorted(reports.glob("ndjson-*.ndjson")):
            for line in events.read_text().splitlines():
                event = json.loads(line)
                if "ScenarioFinished" in event:
                    run._collect(event["ScenarioFinished"]["recorder"], distinct)
                elif "NonFatalError" in event:
                    error = event["NonFatalError"]
                    value = error["value"]
                    run.errors.append(
                        f"{error.get('label')} ({error.get('phase')}): "
                        f"{value['type']}: {value['message']}"
                    )
                elif "FatalError" in event:
                    run.errors.append(f"fatal: {json.dumps(event['FatalError'])[:2000]}")
        run.failures = sorted(distinct.values(), key=lambda failure: failure.operation)
        return run

    def _collect(self, recorder: dict, distinct: dict) -> None:
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                interaction = recorder.get("interactions", {}).get(case_id) or {}
                response = interaction.get("response") or {}
                found = Failure(
                    operation=failure.get("operation") or recorder["label"],
                    check=check["name"],
                    title=failure["title"],
                    message=failure.get("message") or "",
                    status=response.get("status_code"),
                    curl=_curl(interaction.get("request")),
                    response=_response_text(response),
                )
                shape = _shape(found.message)
                key = (found.operation, found.check, found.title, found.status, shape)
                known = distinct.get(key)
                if known is None:
                    distinct[key] = found
                else:
                    known.count += 1
                    if len(found.curl) < len(known.curl):  # the smallest reproduction
                        found.count = known.count
                        distinct[key] = found

    def summary(self) -> str:
        document = self.summary_document
        cases = document.get("test_cases", {})
        operations = document.get("operations") or {}
        phases = ", ".join(
            f"{name}: {phase['status']}" for name, phase in (document.get("phases") or {}).items()
        )
        return (
            f"Schemathesis: seed {SEED}, at most {MAX_EXAMPLES} fuzzed cases per operation, "
            f"{operations.get('tested')}/{operations.get('total')} operations, "
            f"{cases.get('generated')} cases in {self.elapsed:.0f} s ({phases}); "
            f"checks: {', '.join(CHECKS)}"
        )

    def report(self) -> str:
        lines = [self.summary(), ""]
        if not self.complete:
            lines += [f"The run did not complete; see {self.output}:", _tail(self.output), ""]
        if self.failures:
            lines.append(f"{len(self.failures)} distinct failing checks:")
        for number, failure in enumerate(self.failures, 1):
            lines += [
                "",
                f"{number}. {failure.operation}: {failure.check} ({failure.title}), "
                f"{failure.count} case(s)",
                _explanation(failure.message),
                f"   Response: {failure.response}",
                f"   Reproduce: {failure.curl}",
            ]
        if self.errors:
            lines += ["", "Errors (the run could not test something):"]
            lines += [f"- {error}" for error in self.errors]
        lines += ["", f"Full output: {self.output}; events: {self.output.parent / 'reports'}"]
        return "\n".join(lines)


def _shape(message: str) -> str:
    """What tells failures of one check apart: where a body breaks the schema, or the
    message's first line without its particular values."""
    lines = message.strip().splitlines() or [""]
    pointer = next((line for line in lines if line.startswith("Schema at ")), None)
    return pointer or re.sub(r'"[^"]*"|\d+', "…", lines[0])


def _decode(body: dict | str | None) -> bytes | None:
    """A body as the NDJSON log stores it: bytes in base64, or None."""
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode()
    return base64.b64decode(body["$base64"])


def _curl(request: dict | None) -> str:
    if not request:
        return "(no request recorded)"
    parts = ["curl", "-X", request["method"]]
    for name, values in request.get("headers", {}).items():
        for value in values:
            if name.lower() == "authorization" and re.fullmatch(r"Bearer eyJ[\w.-]+", value):
                # A token the harness issued: it expires in minutes. Get one from
                # POST /api/v1/auth/token/ (the editor's, but on /users/me/password/).
                parts += ["-H", '"Authorization: Bearer $TOKEN"']
            else:
                parts += ["-H", _shell_quote(f"{name}: {value}")]
    body = _decode(request.get("body"))
    if body is not None:
        parts += ["--data-binary", _shell_quote(body)]
    parts.append(_shell_quote(request["uri"]))
    return " ".join(parts)


def _shell_quote(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return shlex.quote(text)
    # Bash's $'...' quoting, byte by byte, for control characters and invalid UTF-8.
    escaped = "".join(
        chr(byte) if 0x20 <= byte < 0x7F and chr(byte) not in "\\'" else f"\\x{byte:02x}"
        for byte in raw
    )
    return f"$'{escaped}'"


def _response_text(response: dict) -> str:
    if not response:
        return "(no response)"
    content = _decode(response.get("content")) or b""
    headers = {name.lower(): values[0] for name, values in response.get("headers", {}).items()}
    text = content.decode("utf-8", "replace")
    if len(text) > 500:
        text = text[:500] + "…"
    content_type = headers.get("content-type", "no content type")
    return f"{response.get('status_code')} ({content_type}) {text}"


def _explanation(message: str) -> str:
    """The message without the schema and value dumps Schemathesis indents under it."""
    lines = [
        line
        for line in message.splitlines()
        if line.strip() and not line.startswith(" ") and line.strip() != "Value:"
    ]
    return "\n".join(f"   {line[:300]}" for line in lines)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
