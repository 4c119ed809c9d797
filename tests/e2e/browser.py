"""Shared helpers for the browser tests (test_browser.py): Debian's Chromium driven through
Playwright's sync API, a record of every request a browser context makes, JSON over urllib (an
anonymous client with no cookies), and the log-in steps a person takes."""

import json
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    BrowserContext,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    expect,
)

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / ".ci" / "artifacts" / "e2e"
VIEWPORT = {"width": 1280, "height": 800}  # the laptop screen the pages must read well on

# Playwright never downloads a browser here: Debian's Chromium, headless, no phoning home.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch(playwright: Playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def unique() -> str:
    """A lower-case tag that keeps each test's names, SKUs and slugs its own."""
    return uuid.uuid4().hex[:10]


@dataclass
class Traffic:
    """Every request a browser context sends, those that failed, and every HTTP error answer."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def record(cls, context: BrowserContext) -> "Traffic":
        traffic = cls()
        context.on("request", traffic._on_request)
        context.on("requestfailed", traffic._on_failed)
        context.on("response", traffic._on_response)
        return traffic

    def _on_request(self, request: Request) -> None:
        self.requests.append(f"{request.method} {request.url}")

    def _on_failed(self, request: Request) -> None:
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.errors.append(f"{response.request.method} {response.url}: {response.status}")

    def leaving(self, base_url: str) -> list[str]:
        """The requests whose URL is not on `base_url` (a blob: URL minted by a page of
        `base_url` is in the browser's memory, so it counts as on it)."""
        on_server = (f"{base_url}/", f"blob:{base_url}/")
        return [
            line for line in self.requests if not f"{line.split(' ', 1)[1]}/".startswith(on_server)
        ]

    def assert_stayed_on(self, base_url: str) -> None:
        assert self.requests, "the browser sent no request at all"
        leaving = self.leaving(base_url)
        assert not leaving, f"requests left {base_url}: {leaving}"
        assert not self.errors, f"the browser got HTTP errors: {self.errors}"

    def assert_none_failed(self) -> None:
        assert not self.failed, f"requests failed: {self.failed}"


def fetch_json(
    url: str, *, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON) of one request without cookies: anonymous unless `token`."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError as error:
        problem = f"{method} {url} answered {status}, not JSON: {raw[:300]!r}"
        raise AssertionError(problem) from error


def access_token(base_url: str, account: dict) -> str:
    credentials = {"username": account["username"], "password": account["password"]}
    status, tokens = fetch_json(f"{base_url}/api/v1/auth/token/", method="POST", body=credentials)
    assert status == 200, tokens
    return tokens["access"]


def admin_log_in(page: Page, base_url: str, account: dict) -> None:
    """Open /admin/, be sent to its log-in page, and log in."""
    page.goto(f"{base_url}/admin/")
    expect(page).to_have_url(f"{base_url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(account["username"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Log in").click()


def api_log_in(page: Page, base_url: str, account: dict, path: str) -> None:
    """Open the browsable API at `path`, follow its "Log in" link, log in and come back."""
    page.goto(f"{base_url}{path}")
    page.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/api-auth/login/?next={path}")
    page.get_by_label("Username").fill(account["username"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}{path}")
    page.wait_for_load_state()  # its scripts too: the Filters button opens nothing before


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save .ci/artifacts/e2e/<name>.png for reviewers: by default what the window shows, as a
    person at this screen sees it, with transitions (a dialog fading in) run to their end."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=full_page, animations="disabled")


def hidden_sideways(box: Locator) -> int:
    """How many CSS pixels of `box`'s content lie beyond its right edge: what only a
    horizontal scroll would show (0 when everything fits)."""
    return box.evaluate("box => box.scrollWidth - box.clientWidth")


# Lines are told apart by where each piece of text sits: a new line starts lower down.
_LINES_OF_TEXT = """elements => elements.map(element => {
    const tops = [];
    const texts = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(texts.currentNode);
        for (const rect of range.getClientRects()) if (rect.width > 0) tops.push(rect.top);
    }
    tops.sort((a, b) => a - b);
    return tops.filter((top, i) => i === 0 || top - tops[i - 1] > 4).length;
})"""


def lines_of_text(elements: Locator) -> list[int]:
    """For each element `elements` matches, the number of lines its text takes on screen."""
    return elements.evaluate_all(_LINES_OF_TEXT)


def id_in_link(page: Page, pattern: str) -> int:
    """The object id in the href of the first link matching `pattern` (a regex with one group)
    among the admin's success messages."""
    links = page.locator(".messagelist .success a")
    for href in (links.nth(i).get_attribute("href") for i in range(links.count())):
        match = re.search(pattern, href or "")
        if match:
            return int(match[1])
    raise AssertionError(f"no link like {pattern} in the admin's messages")
