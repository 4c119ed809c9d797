"""Schemathesis hooks for test_schema_fuzzing.py.

The `schemathesis` CLI loads this file in its own process (the `hooks` key of
tests/e2e/schemathesis.toml, from FUZZ_HOOKS); the test passes the live server, the accounts,
the mail directory and the run's name (its seed) through the environment. Not a test module:
pytest never imports it.

Authentication. Every request carries the editor's access token (staff, with every catalog
permission and `users.change_user`). Access tokens live five minutes, so a minute before one
expires it is renewed through POST /auth/token/refresh/, rotating the refresh token, rather than by
logging in again: the run fuzzes PUT and PATCH /users/me/ as the editor, which may rename it or
change its email, and a refresh works by user id whatever the log-in name has become. Nothing else
the editor can be made to do ends that session: it cannot deactivate itself (400) or touch a
superuser (403), and a random `current_password` never changes its password. Should the chain still
break, the session logs in again after the admin has put the account back.

Real values where random ones can only be refused. Some operations take a value only the server
issues, and generated values only ever reach their 400 and 401 answers:
- logout and refresh take a refresh token, verify any token, token a log-in: they get a fresh
  session of a helper account. Never the editor's own session: logging out or spending the
  refresh token the run authenticates with would end the run's session, so logout and refresh
  are fuzzed with tokens of their own;
- password-reset gets a helper's email (so a mail really goes out), password-reset/confirm the
  `uid` and `token` of a link just mailed to that helper (read from the mail directory);
- users/me/password gets its caller's current password. It runs as a helper with that helper's
  own token: with the editor's, a valid new password would really change the editor's, which
  the other end-to-end tests log in with. The helper's password is followed from each 204;
- logging out everywhere and ending a session run as a helper of their own (with the editor's
  token they would end the run's session), and so does the session list, whose ids the stateful
  phase carries to them; ending a session gets, for seven cases in eight, the id of a new
  session of that helper; closing the account runs as another helper, gets its password, and the
  harness registers it again after each 204;
- PUT and PATCH /users/me/ get the editor's current password, without which a new username or
  email is refused, and a username and an email no account has (as register does);
- verify-email gets the `uid` and `token` of the link mailed to an account registered for it;
- two-factor runs as a helper of its own, whose state the harness follows: confirm gets the
  current code of an enrolment the harness begins (turning two-factor off first when it is on),
  turning it off gets the password and a recovery code (turning it on first when it is off);
  token/mfa gets a challenge of another helper, with two-factor on, and one of its recovery
  codes (a TOTP code could be the one the run just spent, which is refused as a replay); a
  helper with two-factor on logs in with a recovery code;
- register, reset/confirm and users/me/password get a new password Django's validators accept
  (generated ones shrink towards "0" and are refused as too short, so the 201 and 204 answers
  would go untested); register also gets a username and an email no account has (the generated
  username with a suffix of the run's own): generated ones shrink towards "0" and "0@0.com",
  taken after the first success, and the stateful phase carries on the id of an account that
  was created, to GET and PATCH /users/{id}/;
- a write with If-Match, a read with If-None-Match get the current ETag of what they address
  (a generated one never matches: writes would only ever be 412, reads never 304);
- a POST with a valid Idempotency-Key gets a key of its own (generated ones repeat, and a key
  reused with another body is only ever 422);
- a cursor page of the product list gets the cursor of the `next` link of the same list (a
  generated cursor carries no signature of the server's: it could only ever be a 400);
- the change history of a product or category gets the id of one that exists (the first of the
  list, as the editor sees it): a generated id is nearly always 404, and the stateful phase
  reaches the history of what it created only now and then.
Each is done for about half of the cases concerned, chosen by a hash of the generated request,
so a replayed or shrunk case makes the same choice; everything else stays as generated (other
fields, extra properties, the media type), and a field a negative case left out or gave
another type is left alone. A `before_call` hook does it, so the values are fresh when sent.

The editor may rename, re-address or deactivate any non-superuser account through PATCH
/users/{id}/, helpers included; when a helper stops answering as expected the admin (a
superuser, out of the editor's reach) puts it back and the injection is tried once more.
"""

import base64
import hashlib
import itertools
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests
import schemathesis

BASE_URL = os.environ["FUZZ_BASE_URL"].rstrip("/")
API = f"{BASE_URL}/api/v1"
ACCOUNTS = json.loads(os.environ["FUZZ_ACCOUNTS"])
MAIL_DIR = Path(os.environ["FUZZ_MAIL_DIR"])
# Each run (one a seed) registers helpers of its own: an earlier run on the same server may have
# changed the password of its helpers, and only that run's process knew the new one.
RUN = os.environ["FUZZ_RUN"]
RENEW_BEFORE_EXPIRY = 60  # seconds
TIMEOUT = 30

LOGOUT = "POST /api/v1/auth/logout/"
TOKEN = "POST /api/v1/auth/token/"
TOKEN_REFRESH = "POST /api/v1/auth/token/refresh/"
TOKEN_VERIFY = "POST /api/v1/auth/token/verify/"
PASSWORD_RESET = "POST /api/v1/auth/password-reset/"
PASSWORD_RESET_CONFIRM = "POST /api/v1/auth/password-reset/confirm/"
PASSWORD_CHANGE = "POST /api/v1/users/me/password/"
REGISTER = "POST /api/v1/auth/register/"
PROFILE_WRITES = ("PUT /api/v1/users/me/", "PATCH /api/v1/users/me/")
LOGOUT_ALL = "POST /api/v1/auth/logout-all/"
CLOSE_ACCOUNT = "DELETE /api/v1/users/me/"
END_SESSION = "DELETE /api/v1/users/me/sessions/{id}/"
LIST_SESSIONS = "GET /api/v1/users/me/sessions/"
VERIFY_EMAIL = "POST /api/v1/auth/verify-email/"
TOKEN_MFA = "POST /api/v1/auth/token/mfa/"
TOTP_START = "POST /api/v1/users/me/mfa/totp/"
TOTP_CONFIRM = "POST /api/v1/users/me/mfa/totp/confirm/"
TOTP_OFF = "DELETE /api/v1/users/me/mfa/totp/"
PRODUCT_LIST = "GET /api/v1/products/"
HISTORY = {
    "GET /api/v1/products/{id}/history/": "/products/",
    "GET /api/v1/categories/{id}/history/": "/categories/",
}
# Operations that succeed only with a value the server issued moments before (a code of a new
# enrolment, a challenge): the fuzzing phase generates few well-formed bodies for them, so three
# in four of those get the real value rather than one in two.
SCARCE_SUCCESS = {TOTP_CONFIRM, TOKEN_MFA, VERIFY_EMAIL}
# Operations run with a helper's token rather than the editor's: a password change, and what
# ends the caller's sessions or account (which would end the run's own session).
RUN_AS = {
    PASSWORD_CHANGE: "password",
    LOGOUT_ALL: "sessions",
    LIST_SESSIONS: "sessions",
    END_SESSION: "sessions",
    CLOSE_ACCOUNT: "closing",
    TOTP_START: "mfa",
    TOTP_CONFIRM: "mfa",
    TOTP_OFF: "mfa",
}

# schema.yml's pattern of Idempotency-Key: 1-255 printable ASCII, spaces around it ignored.
IDEMPOTENCY_KEY = re.compile(r"^[ \t]*[!-~]([ -~]{0,253}[!-~])?[ \t]*$")
LOCK = threading.RLock()
HTTP = requests.Session()
FRESH = itertools.count(1)  # numbers the identities and idempotency keys handed out
USERNAME_MAX_LENGTH = 150


class HarnessError(Exception):
    """The harness could not do its part (log in, mint a token, read a reset mail)."""


def _call(method: str, path: str, body: dict | None = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.request(method, f"{API}{path}", json=body, headers=headers, timeout=TIMEOUT)


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Account:
    username: str
    email: str
    password: str
    id: int | None = None
    pair: dict | None = field(default=None, repr=False)
    # Two-factor: the secret of an enrolment begun, and the unused recovery codes once it is on.
    secret: str | None = field(default=None, repr=False)
    recovery_codes: list[str] = field(default_factory=list, repr=False)

    def log_in(self) -> dict:
        answer = _call(
            "POST", "/auth/token/", {"username": self.username, "password": self.password}
        )
        if answer.status_code == 401 and "challenge" in answer.json() and self.recovery_codes:
            second = {"challenge": answer.json()["challenge"]}
            answer = _call("POST", "/auth/token/mfa/", second | self.second_factor())
        if answer.status_code != 200:
            raise HarnessError(f"{self.username} cannot log in: {answer.status_code} {answer.text}")
        pair = answer.json()
        self.id = int(_claims(pair["access"])["user_id"])
        return pair

    def second_factor(self) -> dict:
        """A recovery code, spent: a TOTP code could be the one the run just used (refused)."""
        if not self.recovery_codes:
            raise HarnessError(f"{self.username} has no recovery code left")
        return {"recovery_code": self.recovery_codes.pop()}

    def access_token(self) -> str:
        """The session's access token, renewed by rotation before it expires."""
        if self.pair is None:
            self.pair = self._log_in_or_repair()
        elif _claims(self.pair["access"])["exp"] - time.time() < RENEW_BEFORE_EXPIRY:
            answer = _call("POST", "/auth/token/refresh/", {"refresh": self.pair["refresh"]})
            self.pair = answer.json() if answer.status_code == 200 else self._log_in_or_repair()
        return self.pair["access"]

    def _log_in_or_repair(self) -> dict:
        try:
            return self.log_in()
        except HarnessError:
            repair(self)
            return self.log_in()


ADMIN = Account(**ACCOUNTS["admin"])
EDITOR = Account(**ACCOUNTS["editor"])
# Helpers: the source of real tokens and log-ins, the account whose password is changed, and the
# account whose password is reset. Registered on first use.
HELPERS = {
    role: Account(
        f"fuzz-{role}-{RUN}", f"fuzz-{role}-{RUN}@example.com", f"{role.title()}-helper-pass-7"
    )
    for role in ("tokens", "password", "reset", "sessions", "closing", "mfa", "challenged")
}
_registered = False


def helper(role: str) -> Account:
    global _registered
    with LOCK:
        if not _registered:
            for account in HELPERS.values():
                register(account)
            _registered = True
        return HELPERS[role]


def register(account: Account) -> None:
    """Make the account (again, once a case closed it)."""
    credentials = {"username": account.username, "email": account.email}
    answer = _call("POST", "/auth/register/", credentials | {"password": account.password})
    if answer.status_code != 201:
        raise HarnessError(f"cannot register {account.username}: {answer.text}")
    account.id = answer.json()["id"]
    account.pair, account.secret, account.recovery_codes = None, None, []


def repair(account: Account) -> None:
    """Put an account back as the harness made it: name, email, active. The admin does it."""
    if account.id is None:
        raise HarnessError(f"{account.username} has no known id to repair")
    answer = _call(
        "PATCH",
        f"/users/{account.id}/",
        {"username": account.username, "email": account.email, "is_active": True},
        token=ADMIN.access_token(),
    )
    if answer.status_code != 200:
        raise HarnessError(f"the admin cannot repair {account.username}: {answer.text}")
    account.pair = None


def fresh_pair(account: Account) -> dict:
    """A new session of `account` (a log-in of its own), to be spent by the case."""
    try:
        return account.log_in()
    except HarnessError:
        repair(account)
        return account.log_in()


def reset_link(account: Account) -> tuple[str, str]:
    """Ask for a reset mail for `account` and read `uid` and `token` from the link it holds."""
    for attempt in range(2):
        seen = len(_links(account))
        answer = _call("POST", "/auth/password-reset/", {"email": account.email})
        links = _links(account)
        if answer.status_code == 202 and len(links) > seen:
            return links[-1]
        if attempt == 0:
            repair(account)  # deactivated or re-addressed by the fuzzer: no mail was sent
    raise HarnessError(f"no reset mail for {account.email} in {MAIL_DIR}")


def other_session_id(account: Account) -> str:
    """The id of a new session of `account` (a log-in of its own), for the case to end."""
    access = fresh_pair(account)["access"]
    listed = _call("GET", "/users/me/sessions/?page_size=100", token=access).json()["results"]
    return next(session["id"] for session in listed if session["current"])


def _links(account: Account, page: str = "reset-password") -> list[tuple[str, str]]:
    """The `uid` and `token` of every link to `page` (the SPA's) mailed to the account."""
    uid = base64.urlsafe_b64encode(str(account.id).encode()).decode().rstrip("=")
    pattern = rf"/{page}\?uid=([\w-]+)&token=([\w-]+)"
    links = []
    for path in sorted(MAIL_DIR.glob("*"), key=lambda path: path.stat().st_mtime_ns):
        for found_uid, token in re.findall(pattern, path.read_text()):
            if found_uid == uid:
                links.append((found_uid, token))
    return links


def verification_link() -> tuple[str, str]:
    """The link mailed to a new account of its own: registering mails one."""
    suffix = f"{RUN}-{next(FRESH)}"
    account = Account(f"fuzz-verify-{suffix}", f"fuzz-verify-{suffix}@example.com", "Verify-pass-7")
    register(account)
    links = _links(account, "verify-email")
    if not links:
        raise HarnessError(f"no verification mail for {account.email} in {MAIL_DIR}")
    return links[-1]


def enrol(account: Account) -> str:
    """Begin an enrolment of `account` (two-factor off first, if on); its secret."""
    if account.recovery_codes:
        off = {"password": account.password} | account.second_factor()
        _call("DELETE", "/users/me/mfa/totp/", off, token=account.access_token())
        account.recovery_codes = []
    answer = _call("POST", "/users/me/mfa/totp/", token=account.access_token())
    if answer.status_code != 200:
        raise HarnessError(f"{account.username} cannot enrol: {answer.status_code} {answer.text}")
    account.secret = answer.json()["secret"]
    return account.secret


def two_factor_on(account: Account) -> None:
    """Turn two-factor on for `account` with a fresh enrolment, keeping its recovery codes."""
    code = pyotp.TOTP(enrol(account)).now()
    answer = _call(
        "POST", "/users/me/mfa/totp/confirm/", {"code": code}, token=account.access_token()
    )
    if answer.status_code != 200:
        raise HarnessError(f"{account.username} cannot confirm: {answer.text}")
    account.recovery_codes = answer.json()["recovery_codes"]


def challenge_of(account: Account) -> str:
    """A log-in challenge of `account`, with at least one recovery code left to answer it."""
    if len(account.recovery_codes) < 2:
        two_factor_on(account)
    answer = _call(
        "POST", "/auth/token/", {"username": account.username, "password": account.password}
    )
    if answer.status_code != 401 or "challenge" not in answer.json():
        raise HarnessError(f"no challenge for {account.username}: {answer.text}")
    return answer.json()["challenge"]


def existing_id(listing: str) -> int | None:
    """The id of a product or category there is now (the run deletes some as it goes)."""
    answer = _call("GET", f"{listing}?page_size=1", token=EDITOR.access_token())
    results = answer.json().get("results", []) if answer.status_code == 200 else []
    return results[0]["id"] if results else None


def _chosen(value, salt: str, out_of: int = 2) -> bool:
    """Whether this case gets a real value: all but one in `out_of` do (about half, by
    default), the same ones on every replay."""
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return hashlib.sha256(f"{salt}:{text}".encode()).digest()[0] % out_of != out_of - 1


def _has_string(body: dict, *names: str) -> bool:
    """Inject only into fields the case sends as strings: a field a negative case left out or
    gave another type stays as generated."""
    return all(isinstance(body.get(name), str) for name in names)


def _strong_password(body: dict) -> str:
    """A new password Django's validators accept. Generated ones hardly ever pass them (they
    shrink towards "0"), which would leave the 204 answers untested."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=repr).encode()).hexdigest()
    return f"Fz-{digest[:16]}"


def _fresh_identity(body: dict) -> None:
    """A username and an email no account has yet, for those of the two the case sends as
    strings: the generated username (an invalid one stays invalid) with a suffix unique to this
    run and request, where it fits. Generated ones shrink towards "0" and "0@0.com", which the
    first registration or rename takes: every later PUT would be refused as a clash."""
    suffix = f"-{RUN}-{next(FRESH)}"
    if _has_string(body, "username") and len(body["username"]) + len(suffix) <= USERNAME_MAX_LENGTH:
        body["username"] += suffix
    if _has_string(body, "email"):
        body["email"] = f"fuzz{suffix}@example.com"


def _inject_secrets(label: str, body: dict) -> None:
    if label in (LOGOUT, TOKEN_REFRESH) and _has_string(body, "refresh"):
        body["refresh"] = fresh_pair(helper("tokens"))["refresh"]
    elif label == TOKEN_VERIFY and _has_string(body, "token"):
        kind = "access" if _chosen(body, "kind") else "refresh"
        body["token"] = fresh_pair(helper("tokens"))[kind]
    elif label == TOKEN and _has_string(body, "username", "password"):
        account = helper("tokens")
        body["username"] = account.username if _chosen(body, "login") else account.email
        body["password"] = account.password
    elif label == PASSWORD_RESET and _has_string(body, "email"):
        body["email"] = helper("reset").email
    elif label == REGISTER and _has_string(body, "password"):
        body["password"] = _strong_password(body)
        if _has_string(body, "username", "email"):
            _fresh_identity(body)
    elif label in PROFILE_WRITES and ("username" in body or "email" in body):
        body["current_password"] = EDITOR.password
        _fresh_identity(body)
    elif label in (PASSWORD_RESET_CONFIRM, PASSWORD_CHANGE):
        if _has_string(body, "new_password") and _chosen(body, "strong"):
            body["new_password"] = _strong_password(body)
        if label == PASSWORD_RESET_CONFIRM and _has_string(body, "uid", "token"):
            body["uid"], body["token"] = reset_link(helper("reset"))
        elif label == PASSWORD_CHANGE and _has_string(body, "current_password"):
            body["current_password"] = helper("password").password
    elif label == CLOSE_ACCOUNT and _has_string(body, "password"):
        body["password"] = helper("closing").password
    elif label == VERIFY_EMAIL and _has_string(body, "uid", "token"):
        body["uid"], body["token"] = verification_link()
    elif label == TOKEN_MFA and _has_string(body, "challenge"):
        account = helper("challenged")
        body["challenge"] = challenge_of(account)
        body.pop("code", None)
        body.update(account.second_factor())
    elif label == TOTP_CONFIRM and _has_string(body, "code"):
        body["code"] = pyotp.TOTP(enrol(helper("mfa"))).now()
    elif label == TOTP_OFF and _has_string(body, "password"):
        account = helper("mfa")
        if not account.recovery_codes:
            two_factor_on(account)
        body["password"] = account.password
        body.pop("code", None)
        body.update(account.second_factor())


def _inject_etags(case) -> None:
    """A random If-Match or If-None-Match never matches, so a write would only ever get 412
    and a read never 304. For about half the cases that send one, put in the current ETag of
    what the request addresses (as the editor sees it), when there is one."""
    headers = case.headers
    if not headers:
        return
    for name in ("If-Match", "If-None-Match"):
        value = headers.get(name)
        request = [case.method, case.formatted_path, case.query, value, case.body]
        if not isinstance(value, str) or not _chosen(request, name):
            continue
        try:
            answer = HTTP.get(
                f"{BASE_URL}{case.formatted_path}",
                params=case.query,
                headers={"Authorization": f"Bearer {EDITOR.access_token()}"},
                timeout=TIMEOUT,
            )
        except (requests.RequestException, TypeError, ValueError):
            continue  # a path or query only the server could make sense of: keep the value
        if answer.status_code == 200 and answer.headers.get("ETag"):
            headers[name] = answer.headers["ETag"]


def _fresh_idempotency_key(case) -> None:
    """Generated keys shrink towards "0": once a write has used one, every other body sent with
    it is a 422 (the key reused), and the keyed requests' 201 answers would go untested. About
    half the cases that send a valid key get one of their own; the rest keep theirs, so replays
    and 422s are met too. An invalid key (a negative case) stays as generated."""
    headers = case.headers
    value = headers.get("Idempotency-Key") if headers else None
    if not isinstance(value, str) or not IDEMPOTENCY_KEY.match(value):
        return
    if _chosen([case.operation.label, value, case.body], "idempotency"):
        headers["Idempotency-Key"] = f"fuzz-{RUN}-{next(FRESH)}"


def _inject_cursor(case) -> None:
    """For about half the cursor pages asked for with a cursor, the cursor of the `next` link
    of the same list (as the editor sees it: cursors are made for one caller's view), when the
    list has a second page."""
    query = case.query
    wanted = case.operation.label == PRODUCT_LIST and query and query.get("pagination") == "cursor"
    if not wanted or not isinstance(query.get("cursor"), str) or not _chosen(query, "cursor"):
        return
    first_page = {name: value for name, value in query.items() if name != "cursor"}
    try:
        answer = HTTP.get(
            f"{API}/products/",
            params=first_page,
            headers={"Authorization": f"Bearer {EDITOR.access_token()}"},
            timeout=TIMEOUT,
        )
        next_link = answer.json().get("next") if answer.status_code == 200 else None
    except (requests.RequestException, TypeError, ValueError, AttributeError):
        return  # a query only the server could make sense of: keep the generated cursor
    if next_link:
        query["cursor"] = parse_qs(urlsplit(next_link).query)["cursor"][0]


@schemathesis.hook
def before_call(context, case, kwargs):
    with LOCK:
        label = case.operation.label
        path = case.path_parameters
        if label in HISTORY and path and _chosen(path, "history"):
            path["id"] = existing_id(HISTORY[label]) or path["id"]
        _inject_etags(case)
        _fresh_idempotency_key(case)
        _inject_cursor(case)
        out_of = 4 if label in SCARCE_SUCCESS else 2
        if isinstance(case.body, dict) and _chosen(case.body, "inject", out_of):
            _inject_secrets(case.operation.label, case.body)
        if case.operation.label == END_SESSION and path and _chosen(path, "session", out_of=8):
            # A path of one uuid makes few distinct cases in the fuzzing phase: nearly all get a
            # real id; the coverage phase's malformed and unknown ids test the 404s.
            path["id"] = other_session_id(helper("sessions"))


@schemathesis.hook
def after_call(context, case, response):
    label = case.operation.label
    if label not in RUN_AS:
        return
    with LOCK:
        account = helper(RUN_AS[label])
        if label == PASSWORD_CHANGE and response.status_code == 204:
            account.password = case.body["new_password"]
        elif label in (LOGOUT_ALL, END_SESSION) and response.status_code == 204:
            account.pair = None  # its own session may be the one that ended
        elif label == CLOSE_ACCOUNT and response.status_code == 204:
            register(account)
        elif label == TOTP_CONFIRM and response.status_code == 200:
            account.recovery_codes = response.json().get("recovery_codes", [])
        elif label == TOTP_OFF and response.status_code == 204:
            account.recovery_codes = []
        elif response.status_code == 401 and account.pair is not None:
            # Either the case sent a broken Authorization header on purpose, or the fuzzer
            # deactivated the helper through PATCH /users/{id}/ and its tokens stopped at once.
            me = _call("GET", "/users/me/", token=account.pair["access"])
            if me.status_code == 401:
                repair(account)


@schemathesis.auth(refresh_interval=None, retry_on=[])
class Tokens:
    """The editor's bearer token on every request; the password helper's on its own operation.
    (The auth endpoints ignore a bearer token, as an SPA that always sends one needs.)"""

    def get(self, case, context):
        with LOCK:
            role = RUN_AS.get(context.operation.label)
            return helper(role).access_token() if role else EDITOR.access_token()

    def set(self, case, data, context):
        if case.headers is None:
            case.headers = {}
        case.headers["Authorization"] = f"Bearer {data}"
