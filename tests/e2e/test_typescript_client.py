"""The typed TypeScript client (clients/ts) against the live server.

Its types are generated from schema.yml (`make client`); `npm run check` fails when they have
drifted from it or when anything in the client does not type-check under `tsc --strict`. The
SPA script (src/spa.ts) then plays a front end through the typed client, step by step, and
exits non-zero on the first answer that breaks the contract (shared API.md)."""

import os
import shutil
import subprocess
import time

import jwt
import pytest
import requests

from tests.e2e import live

CLIENT = live.PROJECT / "clients" / "ts"
INSTALLED = ("openapi-fetch", "openapi-typescript", "typescript", "@types/node")


def run(*command: str, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            command,
            cwd=CLIENT,
            env=env,
            capture_output=True,
            timeout=timeout,
            encoding="utf-8",
            errors="replace",
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"`{' '.join(command)}` in {CLIENT} took over {timeout} s:\n{output(expired)}")


def output(result: subprocess.CompletedProcess | subprocess.TimeoutExpired) -> str:
    def text(stream: str | bytes | None) -> str:
        return stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""

    status = getattr(result, "returncode", "none (timed out)")
    stdout, stderr = text(result.stdout), text(result.stderr)
    return f"exit status {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"


@pytest.fixture(scope="module")
def npm():
    """npm, with the client's packages installed (`make e2e` runs `npm ci`; this does it when
    that was skipped)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node.js 20+ and npm are needed for the TypeScript client (clients/ts)")
    if not all((CLIENT / "node_modules" / package).is_dir() for package in INSTALLED):
        installed = run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=600)
        assert installed.returncode == 0, f"npm ci failed in {CLIENT}:\n{output(installed)}"
    return npm


def test_generated_types_match_the_schema_and_everything_type_checks(npm):
    checked = run(npm, "run", "--silent", "check", timeout=300)

    assert checked.returncode == 0, f"npm run check (drift + tsc --strict):\n{output(checked)}"


def test_spa_script_drives_the_live_server_through_the_typed_client(npm, live_server, accounts):
    built = run(npm, "run", "--silent", "build", timeout=300)
    assert built.returncode == 0, f"npm run build:\n{output(built)}"

    editor = accounts["editor"]
    expired_access, its_refresh = expired_session(live_server.url, editor)
    env = os.environ | {
        "API_URL": live_server.url,
        "STAFF_USERNAME": editor["username"],
        "STAFF_PASSWORD": editor["password"],
        "EXPIRED_ACCESS": expired_access,
        "ITS_REFRESH": its_refresh,
    }
    spa = run("node", "dist/spa.js", timeout=120, env=env)

    assert spa.returncode == 0, f"node dist/spa.js against {live_server.url}:\n{output(spa)}"
    assert "SPA check passed" in spa.stdout, output(spa)


def expired_session(url: str, account: dict) -> tuple[str, str]:
    """A fresh session's access token as it will be once its lifetime is over (signed with the
    live server's key, its claims otherwise untouched), and the session's refresh token."""
    answer = requests.post(
        f"{url}/api/v1/auth/token/",
        json={"username": account["username"], "password": account["password"]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    claims = jwt.decode(pair["access"], live.SECRET_KEY, algorithms=["HS256"])
    claims |= {"iat": int(time.time()) - 600, "exp": int(time.time()) - 300}
    return jwt.encode(claims, live.SECRET_KEY, algorithm="HS256"), pair["refresh"]
