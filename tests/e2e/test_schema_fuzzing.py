"""Schemathesis against the live server and the OpenAPI document it serves (/api/v1/schema/,
identical to schema.yml): API.md says the schema must describe exactly the contract, so every
answer to every generated request has to be one the schema allows.

The `schemathesis` CLI runs in a subprocess, configured by tests/e2e/schemathesis.toml and, for
each run, the command line (seed, number of cases) and the environment (hooks, server):
- every operation of the schema, nothing excluded, authenticated as the editor (staff with
  every catalog permission); tests/e2e/fuzzing.py holds the hooks the CLI loads for that: the
  editor's token, renewed before it expires, and real tokens, log-ins, reset links, passwords
  and ETags where random values can only ever be refused (see there for which and why);
- every check Schemathesis has (CHECKS): no server error; the documented status codes, content
  types, headers and bodies; a schema-valid request accepted and a schema-violating one refused;
  a required header left out refused; undocumented methods refused with an `Allow` header; no
  answer without the credentials the schema asks for; a deleted resource gone, a created one
  there; one caller's objects hidden from another. Where a schema-valid request is refused for
  a reason no schema can state (a taken name, a weak password, a stale If-Match), the
  configuration says so for that operation, check and status only, each with its reason;
- all four phases: examples (the schema has none), coverage (boundary and wrong-type values of
  every parameter and body field, missing fields, the methods an operation does not have),
  fuzzing (at most MAX_EXAMPLES random cases per operation, valid and invalid) and stateful
  (chains of calls along links Schemathesis infers from the schema and the responses: the id a
  POST answers with is what the GET, PUT, PATCH and DELETE of `{id}` that follow address;
  CHAINS and ACCOUNT_LINKS list them);
- two fixed SEEDS (FUZZ_SEED runs one seed of your choosing instead, FUZZ_MAX_EXAMPLES sets the
  number of cases), and a single worker: the generated cases are then reproducible (the stateful
  phase's as far as the server answers alike), and several workers trip over CPython 3.11's
  `ast` not being thread-safe ("SystemError: AST constructor recursion depth mismatch" from
  Hypothesis, reported as a Schemathesis error).

Each seed's test fails on any failing check, on any error of its run, and if an operation
never once answered with success (then only its refusals were tested: the harness has lost its
footing). The report lists each distinct failure: the operation, the check, what is wrong, the
response and a curl command that reproduces it. The CLI's own output and its NDJSON event log
stay in the test's temporary directory (named in the report). Two last tests fail if the
stateful phase no longer follows ids from one call to the next: if the id a POST of CHAINS
created never went on to a call of its `{id}` in any of the runs, or if Schemathesis no longer
links a new account's id to /users/{id}/ (ACCOUNT_LINKS). Which chains a run makes varies with
the seed and with the server's answers, which the stateful phase's choices follow, so one chain
is asked of each POST over the runs together; each run's summary counts its own.

The run writes to the session's database: it registers accounts, creates, changes and deletes
products and categories, and may rename or deactivate any account that is not a superuser. The
editor's and the customer's accounts are put back afterwards (`shared_accounts`), so the other
end-to-end tests can still log in with live.ACCOUNTS; the catalog is not restored.
"""

import base64
import contextlib
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
import schemathesis

from tests.e2e import live

# CI's two fixed runs; FUZZ_SEED (one run) and FUZZ_MAX_EXAMPLES explore further (see the README).
SEEDS = [int(os.environ["FUZZ_SEED"])] if os.environ.get("FUZZ_SEED") else [20240601, 20251107]
# Per operation and seed, fuzzing phase: 20 on each of the two seeds keeps `make e2e` within its
# time on a 2-core machine.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
# The coverage phase (the boundary values of every parameter and body) hardly depends on the seed
# and costs more than the fuzzing: the first run has it, a second seed adds new fuzzed cases only.
FIRST_RUN_PHASES = "examples,coverage,fuzzing,stateful"
LATER_RUN_PHASES = "fuzzing,stateful"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)
# Calls the stateful phase can make with the id a POST answered with; each POST's id must go on
# to one of them at least, in one run or another.
CHAINS = frozenset(
    f"POST /api/v1/{created} -> {method} /api/v1/{created}{{id}}/"
    for created in ("products/", "categories/")
    for method in ("GET", "PUT", "PATCH", "DELETE")
)
# The links from a new account's id to its user. They are asked of the links Schemathesis infers,
# not of a run: they are 2 of the state machine's 81 transitions, and a run follows one only now
# and then (two of the eight runs counted followed none; one of them made 6 accounts and followed
# 4 links from them, all four to /users/me/). That a link is followed once inferred, CHAINS shows.
REGISTER = "POST /api/v1/auth/register/"
ACCOUNT_LINKS = {"GET /api/v1/users/{id}/", "PATCH /api/v1/users/{id}/"}
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
RUN_TIMEOUT = 15 * 60  # seconds; a run takes a few minutes
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HOOKS = Path(__file__).with_name("fuzzing.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMA = Path(__file__).parents[2] / "schema.yml"


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


@pytest.fixture(scope="module")
def live_server():
    """A server of its own: the fuzzer creates, changes and deletes catalog rows freely, and the
    other end-to-end tests count and page through the demo catalog."""
    server = live.start()
    yield server
    server.stop()


@pytest.fixture
def shared_accounts(live_server, accounts):
    """Put the editor's and the customer's accounts back as live.ACCOUNTS has them once the
    fuzzer is done: PUT/PATCH /users/me/ may rename the editor, PATCH /users/{id}/ may rename or
    deactivate the customer, and another account may since have taken the name or the email
    they had (Schemathesis reuses values it saw in responses). The fuzzer cannot touch the admin
    (a superuser), nor change a password it does not know."""
    admin = _log_in(live_server, accounts["admin"])
    ids = {role: _find(live_server, admin, accounts[role])["id"] for role in ("editor", "customer")}
    yield
    admin = _log_in(live_server, accounts["admin"])
    for role, user_id in ids.items():
        account = accounts[role]
        for value in (account["username"], account["email"]):
            holder = _find(live_server, admin, {"username": value, "email": value})
            if holder is not None and holder["id"] != user_id:
                _patch_user(
                    live_server,
                    admin,
                    holder["id"],
                    username=f"moved-{holder['id']}",
                    email=f"moved-{holder['id']}@example.com",
                )
        _patch_user(
            live_server,
            admin,
            user_id,
            username=account["username"],
            email=account["email"],
            first_name="",
            last_name="",
            is_active=True,
        )
        _log_in(live_server, account)  # as the other end-to-end tests will


def _find(server, token: str, account: dict) -> dict | None:
    """The user whose username or email is the account's (ignoring case), if any."""
    found = _api(
        server, "GET", "/users/", token, params={"search": account["username"], "page_size": 100}
    )
    found = found.json()["results"]
    if account["email"] != account["username"]:
        more = _api(
            server, "GET", "/users/", token, params={"search": account["email"], "page_size": 100}
        )
        found += more.json()["results"]
    names = {account["username"].lower(), account["email"].lower()}
    return next(
        (user for user in found if {user["username"].lower(), user["email"].lower()} & names),
        None,
    )


def _patch_user(server, token: str, user_id: int, **changes) -> None:
    answer = _api(server, "PATCH", f"/users/{user_id}/", token, json=changes)
    assert answer.status_code == 200, f"cannot restore user {user_id}: {answer.text}"


@pytest.fixture(scope="module")
def fuzz(live_server, accounts, tmp_path_factory):
    """The Schemathesis run of a seed, made on first use and kept: each seed's test reads its own
    run, and the chain test all of them."""
    runs: dict[int, Run] = {}

    def run_of(seed: int) -> "Run":
        if seed not in runs:
            directory = tmp_path_factory.mktemp(f"schemathesis-{seed}")
            runs[seed] = _run_schemathesis(live_server, accounts, directory, seed)
        return runs[seed]

    return run_of


@pytest.mark.parametrize("seed", SEEDS)
def test_every_operation_answers_as_its_schema_says(fuzz, shared_accounts, seed):
    run = fuzz(seed)
    if not run.passed:
        pytest.fail(run.report(), pytrace=False)


def test_the_stateful_phase_carries_each_created_id_on(fuzz, shared_accounts):
    """Each POST of CHAINS created an id that a later call of the stateful phase addressed, in
    one run at least. Asked of the runs together: which links a run follows depends on the
    server's answers as well as the seed (Schemathesis fills its resource pool and scores its
    links from the response bodies, and a time-based code or a token's expiry changes an
    answer); the links themselves being lost misses them in every run."""
    runs = [fuzz(seed) for seed in SEEDS]
    made = set().union(*(run.chains for run in runs)) & CHAINS
    unchained = _unchained_posts(made)
    summaries = "\n".join(run.summary() for run in runs)
    assert not unchained, (
        f"{summaries}\n\nPOSTs whose created id the stateful phase never used in a later call, "
        f"in any run: {', '.join(unchained)}"
    )


def test_a_new_accounts_id_is_linked_to_its_user():
    """Schemathesis links the `id` POST /auth/register/ answers with to the path of GET and
    PATCH /users/{id}/ (the state machine the CLI builds from the schema, as the live server
    serves it: schema.yml)."""
    schema = schemathesis.openapi.from_path(SCHEMA)
    links = schema.as_state_machine()._transitions.operations[REGISTER].outgoing
    carried = {
        link.target.label
        for link in links
        if link.status_code == "201"
        and any(
            (parameter.container_name, parameter.name, parameter.expression)
            == ("path_parameters", "id", "$response.body#/id")
            for parameter in link.parameters
        )
    }
    assert carried >= ACCOUNT_LINKS, f"{REGISTER} links its id to {sorted(carried)} only"


def _run_schemathesis(server, accounts, directory: Path, seed: int) -> "Run":
    reports = directory / "reports"
    output = directory / "schemathesis.txt"
    env = os.environ | {
        "FUZZ_BASE_URL": server.url,
        "FUZZ_ACCOUNTS": json.dumps(accounts),
        "FUZZ_MAIL_DIR": str(server.mail),
        "FUZZ_HOOKS": str(HOOKS),
        "FUZZ_RUN": str(seed),
        "PYTHONHASHSEED": "0",  # set and dict orders as well as the seed, run after run
    }
    env.pop("SCHEMATHESIS_HOOKS", None)
    started = time.monotonic()
    with output.open("w") as log, contextlib.suppress(subprocess.TimeoutExpired):
        # Killed on timeout; the report then says the run did not complete.
        subprocess.run(
            [
                SCHEMATHESIS,
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{server.url}/api/v1/schema/",
                "--seed",
                str(seed),
                "--phases",
                FIRST_RUN_PHASES if seed == SEEDS[0] else LATER_RUN_PHASES,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--report",
                "ndjson,json",
                "--report-dir",
                str(reports),
            ],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    return Run.read(reports, output, seed=seed, elapsed=time.monotonic() - started)


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
    seed: int
    elapsed: float
    summary_document: dict = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tested: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return bool(self.summary_document.get("complete"))

    @property
    def never_succeeded(self) -> list[str]:
        """Operations that never once answered with success (2xx, or 304): all the run
        checked there is how they refuse, which says the harness is broken (its token, a
        helper account) or the operation cannot succeed at all."""
        return sorted(self.tested - self.succeeded)

    @property
    def all_tested(self) -> bool:
        """Every operation of the schema was selected and tested (none skipped)."""
        operations = self.summary_document.get("operations") or {}
        return bool(operations) and operations.get("tested") == operations.get("total")

    @property
    def passed(self) -> bool:
        return (
            self.complete
            and self.all_tested
            and not self.failures
            and not self.errors
            and not self.never_succeeded
        )

    @classmethod
    def read(cls, reports: Path, output: Path, seed: int, elapsed: float) -> "Run":
        run = cls(output=output, seed=seed, elapsed=elapsed)
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
        if recorder["label"].split(" ")[0] in HTTP_METHODS:  # not "Stateful tests"
            self.tested.add(recorder["label"])
        for case_id, interaction in recorder.get("interactions", {}).items():
            case = recorder.get("cases", {}).get(case_id, {}).get("value") or {}
            status = (interaction.get("response") or {}).get("status_code") or 0
            if case and (200 <= status < 300 or status == 304):
                self.succeeded.add(f"{case['method']} {case['path']}")
        self._collect_chains(recorder)
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

    def _collect_chains(self, recorder: dict) -> None:
        """The stateful phase's calls that addressed the id a POST of the same scenario had
        just created (a link applied: its source answered 201 with that `id`)."""
        cases = recorder.get("cases", {})
        for entry in cases.values():
            source_id = (entry.get("transition") or {}).get("parent_id")
            if not entry.get("is_transition_applied") or source_id not in cases:
                continue
            answer = recorder.get("interactions", {}).get(source_id) or {}
            chain = _chain(cases[source_id]["value"], answer.get("response"), entry["value"])
            if chain:
                self.chains.add(chain)

    def summary(self) -> str:
        document = self.summary_document
        cases = document.get("test_cases", {})
        operations = document.get("operations") or {}
        phases = ", ".join(
            f"{name}: {phase['status']}" for name, phase in (document.get("phases") or {}).items()
        )
        return (
            f"Schemathesis: seed {self.seed}, at most {MAX_EXAMPLES} fuzzed cases per operation, "
            f"{operations.get('tested')}/{operations.get('total')} operations, "
            f"{cases.get('generated')} cases in {self.elapsed:.0f} s ({phases}); "
            f"{len(self.chains & CHAINS)}/{len(CHAINS)} chains made; "
            f"checks: {', '.join(CHECKS)}; exit status {document.get('exit_code')}"
        )

    def report(self) -> str:
        lines = [self.summary(), ""]
        if not self.complete:
            lines += [f"The run did not complete; see {self.output}:", _tail(self.output), ""]
        elif not self.all_tested:
            skipped = (self.summary_document.get("operations") or {}).get("skip_reasons")
            lines += [f"Not every operation was tested (skipped: {skipped}).", ""]
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
        if self.never_succeeded:
            lines += ["", "Operations that never answered with success (the harness's fault?):"]
            lines += [f"- {operation}" for operation in self.never_succeeded]
        if self.errors:
            lines += ["", "Errors (the run could not test something):"]
            lines += [f"- {error}" for error in self.errors]
        warnings = {
            kind: labels
            for kind, labels in (self.summary_document.get("warnings") or {}).items()
            if labels
        }
        if warnings:
            lines += ["", "Schemathesis warnings (they do not fail the test):"]
            lines += [f"- {kind}: {', '.join(labels)}" for kind, labels in warnings.items()]
        lines += ["", f"Full output: {self.output}; events: {self.output.parent / 'reports'}"]
        return "\n".join(lines)


def _unchained_posts(chains: set[str]) -> list[str]:
    """POSTs of CHAINS whose created id never went on to a call of its `{id}` in `chains`: the
    links that carry it are gone (no longer inferred, or not followed)."""
    posts = {chain.split(" -> ")[0] for chain in CHAINS}
    return sorted(posts - {chain.split(" -> ")[0] for chain in chains})


def _chain(source: dict, response: dict | None, target: dict) -> str | None:
    """The chain `POST … -> PATCH …/{id}/` when `source` created, with a 201, the `id` that
    `target` addressed."""
    if not response or response.get("status_code") != 201:
        return None
    try:
        created = json.loads(_decode(response.get("content")) or b"null")["id"]
    except (ValueError, TypeError, KeyError):
        return None
    if str((target.get("path_parameters") or {}).get("id")) != str(created):
        return None
    return f"{source['method']} {source['path']} -> {target['method']} {target['path']}"


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
    url = _shell_quote(request["uri"])
    if body is None:
        return " ".join([*parts, url])
    if _is_printable(body) and not body.startswith(b"@"):
        return " ".join([*parts, "--data-binary", shlex.quote(body.decode()), url])
    # NUL bytes (no shell argument can hold one), control characters, invalid UTF-8, or a leading
    # @ (curl would read a file of that name): printf writes the exact bytes to curl's stdin.
    escaped = "".join(
        chr(byte) if 0x20 <= byte < 0x7F and chr(byte) not in "\\'%" else f"\\x{byte:02x}"
        for byte in body
    )
    return f"printf '{escaped}' | {' '.join([*parts, '--data-binary', '@-', url])}"


def _is_printable(raw: bytes) -> bool:
    try:
        return raw.decode().isprintable()
    except UnicodeDecodeError:
        return False


def _shell_quote(value: str) -> str:
    if value.isprintable():
        return shlex.quote(value)
    # Bash's $'...' quoting, byte by byte, for control characters.
    escaped = "".join(
        chr(byte) if 0x20 <= byte < 0x7F and chr(byte) not in "\\'" else f"\\x{byte:02x}"
        for byte in value.encode("utf-8", "surrogatepass")
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
