"""What people see in a browser: staff in the Django admin, a customer refused by it, the Swagger
UI and ReDoc served without any CDN, and the browsable API's HTML form and Filters dialog. Each
test gets a fresh browser context with a 1280 x 800 window and leaves a full-page screenshot in
.ci/artifacts/e2e/<test-name>.png; the tests of how pages read save named ones there too
(`browsable-api-filters.png`, `swagger-ui.png`, `admin-products-1280x800.png`, ...)."""

import io
import json
import re
import urllib.request
from urllib.parse import urljoin, urlsplit

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.e2e.browser import (
    ARTIFACTS,
    VIEWPORT,
    Traffic,
    access_token,
    admin_log_in,
    api_log_in,
    fetch_json,
    hidden_sideways,
    id_in_link,
    launch,
    lines_of_text,
    screenshot,
    unique,
)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    # nginx's certificate is one made for the run (live.py)
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def traffic(context) -> Traffic:
    return Traffic.record(context)


@pytest.fixture
def page(context, traffic, request):
    page = context.new_page()
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)


def filter_choice(page: Page, title: str, choice: str):
    """A link in one section ("By active", "By category", …) of the changelist's filter."""
    section = page.locator("#changelist-filter details").filter(
        has=page.locator("summary", has_text=title)
    )
    return section.get_by_role("link", name=choice, exact=True)


def test_staff_create_find_filter_and_deactivate_a_product_in_the_admin(
    live_server, accounts, page, traffic
):
    base, editor = live_server.url, accounts["editor"]
    tag = unique()
    category_name, slug = f"E2E Garden Tools {tag}", f"e2e-garden-tools-{tag}"
    name, sku = f"E2E Admin Lamp {tag}", f"E2E-ADM-{tag.upper()}"
    description = f"A desk lamp for the browser tests ({tag})."

    admin_log_in(page, base, editor)
    expect(page).to_have_url(f"{base}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text(editor["username"])

    # A category: the slug fills itself in from the name as it is typed.
    page.locator("tr.model-category").get_by_role("link", name="Add").click()
    expect(page).to_have_url(f"{base}/admin/products/category/add/")
    page.get_by_label("Name:", exact=True).press_sequentially(category_name)
    expect(page.get_by_label("Slug:", exact=True)).to_have_value(slug)
    page.get_by_label("Description:", exact=True).fill("Created by the browser tests.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"The category “{category_name}” was added successfully."
    )
    category_id = id_in_link(page, r"/admin/products/category/(\d+)/change/")
    expect(page.locator("#result_list")).to_contain_text(slug)

    # A product in it, through the add form (the category is an autocomplete field).
    page.goto(f"{base}/admin/products/product/")
    page.get_by_role("link", name="Add product").click()
    expect(page).to_have_url(f"{base}/admin/products/product/add/")
    page.get_by_label("Name:", exact=True).fill(name)
    page.get_by_label("SKU:", exact=True).fill(sku)
    page.get_by_label("Description:", exact=True).fill(description)
    page.locator(".field-category .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").press_sequentially(tag)
    page.locator(".select2-results__option", has_text=category_name).click()
    expect(page.locator("#id_category")).to_have_value(str(category_id))
    expect(page.locator("#select2-id_category-container")).to_contain_text(category_name)
    page.get_by_label("Price:", exact=True).fill("12.50")
    page.get_by_label("Stock:", exact=True).fill("7")
    expect(page.get_by_label("Active", exact=True)).to_be_checked()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"The product “{name} ({sku})” was added successfully."
    )
    product_id = id_in_link(page, r"/admin/products/product/(\d+)/change/")

    status, product = fetch_json(f"{base}/api/v1/products/{product_id}/")
    assert status == 200, product
    assert product | {"created_at": None, "updated_at": None} == {
        "id": product_id,
        "name": name,
        "sku": sku,
        "description": description,
        "price": "12.50",
        "stock": 7,
        "in_stock": True,
        "is_active": True,
        "category": category_id,
        "category_name": category_name,
        "created_at": None,
        "updated_at": None,
        "images": [],
    }

    # The changelist search finds it by SKU.
    page.get_by_role("textbox", name="Search").fill(sku)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(rf"\?q={re.escape(sku)}$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)

    # The filters, without the search: on sale, then in the new category.
    page.goto(f"{base}/admin/products/product/")
    filter_choice(page, "By active", "Yes").click()
    expect(page).to_have_url(re.compile(r"is_active__exact=1"))
    filter_choice(page, "By category", category_name).click()
    expect(page).to_have_url(re.compile(rf"category__id__exact={category_id}\b"))
    expect(page).to_have_url(re.compile(r"is_active__exact=1"))
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text(name)
    expect(row.locator("input[name$='-is_active']")).to_be_checked()

    # The bulk action takes it off sale.
    row.locator("input.action-select").check()
    action = page.locator("select[name=action]")
    expect(action.locator("option[value=deactivate]")).to_have_text(
        re.compile(r"^Deactivate selected products")
    )
    action.select_option("deactivate")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist .success")).to_have_text("1 product(s) deactivated.")
    expect(page.get_by_role("link", name=name)).to_have_count(0)  # no longer "active: yes"
    filter_choice(page, "By active", "No").click()
    expect(page).to_have_url(re.compile(rf"category__id__exact={category_id}\b"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)
    expect(rows.first.locator("input[name$='-is_active']")).not_to_be_checked()

    # The API agrees: hidden from everyone but staff.
    status, body = fetch_json(f"{base}/api/v1/products/{product_id}/")
    assert status == 404, body
    assert set(body) == {"detail", "code"}
    for query in (f"search={sku}", f"category={category_id}", "ordering=-created_at"):
        status, listing = fetch_json(f"{base}/api/v1/products/?{query}&page_size=100")
        assert status == 200, listing
        assert product_id not in [item["id"] for item in listing["results"]], query
    status, listing = fetch_json(f"{base}/api/v1/products/?search={sku}")
    assert listing["count"] == 0
    status, category = fetch_json(f"{base}/api/v1/categories/{category_id}/")
    assert (status, category["slug"], category["product_count"]) == (200, slug, 0)
    as_staff = page.request.get(f"{base}/api/v1/products/{product_id}/")  # the admin session
    assert as_staff.status == 200
    assert as_staff.json()["is_active"] is False

    traffic.assert_stayed_on(base)


def test_staff_add_an_image_in_the_admin_and_the_api_and_nginx_serve_it(
    live_server, accounts, page, traffic
):
    base, editor = live_server.url, accounts["editor"]
    tag = unique()
    token = access_token(base, editor)
    body = {"name": f"E2E Pictured {tag}", "sku": f"E2E-PIC-{tag.upper()}", "price": "4.00"}
    status, product = fetch_json(f"{base}/api/v1/products/", method="POST", body=body, token=token)
    assert status == 201, product
    picture = io.BytesIO()
    Image.new("RGB", (640, 400), "darkorange").save(picture, "JPEG")

    admin_log_in(page, base, editor)
    page.goto(f"{base}/admin/products/product/{product['id']}/change/")
    images = page.locator(".inline-group", has_text="images")
    images.locator("input[type=file]").first.set_input_files(
        files=[{"name": "lamp.jpg", "mimeType": "image/jpeg", "buffer": picture.getvalue()}]
    )
    images.locator("input[name$='-alt']").first.fill(f"An orange lamp {tag}")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    expect(images.locator("img").first).to_be_visible()  # the thumbnail, in the inline
    screenshot(page, "admin-product-image")

    status, shown = fetch_json(f"{base}/api/v1/products/{product['id']}/")
    assert status == 200, shown
    (image,) = shown["images"]
    assert (image["width"], image["height"], image["alt"]) == (640, 400, f"An orange lamp {tag}")
    for url in (image["url"], *image["renditions"].values()):
        with urllib.request.urlopen(urljoin(base, url), timeout=10) as served:  # through nginx
            assert served.status == 200
            assert served.headers["Content-Type"] in ("image/jpeg", "image/webp")
    traffic.assert_stayed_on(base)


def test_a_customer_is_refused_by_the_admin(live_server, accounts, page, traffic):
    base, customer = live_server.url, accounts["customer"]
    # The credentials are good: what the admin refuses is the lack of staff rights.
    access_token(base, customer)

    admin_log_in(page, base, customer)

    expect(page).to_have_url(f"{base}/admin/login/?next=/admin/")
    expect(page.locator(".errornote")).to_contain_text(
        "Please enter the correct username and password for a staff account."
    )
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value(customer["username"])
    expect(page.locator("#user-tools")).to_have_count(0)
    # Not let in by the back door either: the admin still sends this browser to log in.
    answer = page.request.get(f"{base}/admin/products/product/", max_redirects=0)
    assert answer.status == 302
    assert answer.headers["location"] == "/admin/login/?next=/admin/products/product/"
    traffic.assert_stayed_on(base)


def test_swagger_ui_authorizes_with_a_bearer_token_and_tries_the_product_list(
    live_server, accounts, page, traffic
):
    base = live_server.url
    token = access_token(base, accounts["editor"])
    # A product off sale, the newest: only staff see it, so seeing it proves the token was used.
    tag = unique()
    sku = f"E2E-SWG-{tag.upper()}"
    hidden = {"name": f"E2E Swagger Lamp {tag}", "sku": sku, "price": "1.00", "is_active": False}
    status, created = fetch_json(
        f"{base}/api/v1/products/", method="POST", body=hidden, token=token
    )
    assert status == 201, created

    page.goto(f"{base}/api/v1/docs/", wait_until="networkidle")
    expect(page.get_by_role("heading", name=re.compile("Product Catalog API"))).to_be_visible(
        timeout=20_000  # the first schema a server process builds takes a moment
    )
    operation = page.locator("#operations-products-products_list")
    expect(operation).to_contain_text("List products")

    page.locator(".scheme-container").get_by_role("button", name="Authorize").click()
    bearer = page.locator(".auth-container").filter(has_text="jwtAuth")
    bearer.get_by_label("auth-bearer-value").fill(token)
    bearer.get_by_role("button", name="Apply credentials").click()
    expect(bearer.get_by_role("heading", name="Authorized")).to_be_visible()
    bearer.get_by_role("button", name="Close").click()
    expect(page.locator(".modal-ux")).to_have_count(0)

    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(
        lambda answer: (
            urlsplit(answer.url).path == "/api/v1/products/" and answer.request.method == "GET"
        )
    ) as sent:
        operation.get_by_role("button", name="Execute").click()
    answer = sent.value

    shown = operation.locator(".live-responses-table")
    expect(shown.locator("tbody .response-col_status")).to_have_text("200")
    expect(shown).to_contain_text('"count"')
    expect(shown).to_contain_text(f'"sku": "{sku}"')
    expect(operation.locator(".curl-command")).to_contain_text(f"Authorization: Bearer {token}")
    assert answer.status == 200
    assert answer.request.all_headers().get("authorization") == f"Bearer {token}"
    assert created["id"] in [product["id"] for product in answer.json()["results"]]

    page.wait_for_load_state("networkidle")
    traffic.assert_stayed_on(base)
    traffic.assert_none_failed()


def test_redoc_renders_the_operations_from_the_app_itself(live_server, page, traffic):
    base = live_server.url

    page.goto(f"{base}/api/v1/redoc/", wait_until="networkidle")

    expect(page.get_by_role("heading", name=re.compile(r"\bList products$"))).to_be_visible(
        timeout=20_000  # the first schema a server process builds takes a moment
    )
    expect(page.get_by_role("heading", name="Product Catalog API")).to_be_visible()
    page.wait_for_load_state("networkidle")
    traffic.assert_stayed_on(base)
    traffic.assert_none_failed()


def test_browsable_api_html_form_creates_a_product(live_server, accounts, page, traffic):
    base, editor = live_server.url, accounts["editor"]
    tag = unique()
    name, sku = f"E2E Browsable Chair {tag}", f"E2E-BRW-{tag.upper()}"
    token = access_token(base, editor)
    new_category = {"name": f"E2E Seating {tag}"}
    status, category = fetch_json(
        f"{base}/api/v1/categories/", method="POST", body=new_category, token=token
    )
    assert status == 201, category

    api_log_in(page, base, editor, "/api/v1/products/")
    expect(page.locator(".navbar")).to_contain_text(editor["username"])

    page.locator("a[name=html-tab]").click()
    form = page.locator("#post-object-form form")
    expect(form).to_be_visible()
    form.locator("[name=name]").fill(name)
    form.locator("[name=sku]").fill(sku)
    form.locator("[name=description]").fill("Posted from the browsable API's HTML form.")
    form.locator("[name=price]").fill("49.90")
    form.locator("[name=stock]").fill("3")
    form.locator("[name=is_active]").check()
    form.locator("[name=category]").select_option(label=category["name"])
    with page.expect_navigation():
        form.get_by_role("button", name="POST").click()

    response = page.locator(".response-info pre")
    expect(response).to_contain_text("HTTP 201 Created")
    shown = json.loads(response.inner_text().split("\n\n", 1)[1])
    assert shown["name"] == name
    assert shown["sku"] == sku

    status, product = fetch_json(f"{base}/api/v1/products/{shown['id']}/")
    assert status == 200, product
    assert product == shown
    assert product | {"id": 0, "created_at": None, "updated_at": None} == {
        "id": 0,
        "name": name,
        "sku": sku,
        "description": "Posted from the browsable API's HTML form.",
        "price": "49.90",
        "stock": 3,
        "in_stock": True,
        "is_active": True,
        "category": category["id"],
        "category_name": category["name"],
        "created_at": None,
        "updated_at": None,
        "images": [],
    }
    status, listing = fetch_json(f"{base}/api/v1/products/?search={sku}")
    assert [item["id"] for item in listing["results"]] == [shown["id"]]

    traffic.assert_stayed_on(base)


# --- How the pages read at 1280 x 800 (named screenshots for reviewers) ------------------------


def shown_json(page: Page):
    """The JSON body the browsable API shows under its response headers."""
    return json.loads(page.locator(".response-info pre").inner_text().split("\n\n", 1)[1])


def test_browsable_api_filters_dialog_narrows_the_product_list(
    live_server, accounts, page, traffic
):
    base = live_server.url
    status, categories = fetch_json(f"{base}/api/v1/categories/?page_size=100")
    assert status == 200, categories
    kitchen = next(entry for entry in categories["results"] if entry["name"] == "Kitchen")
    # The category filter takes in the categories below Kitchen (the demo's Cookware, Knives).
    in_kitchen = {
        entry["id"]
        for entry in categories["results"]
        if kitchen["id"] in [entry["id"], *(above["id"] for above in entry["ancestors"])]
    }
    assert len(in_kitchen) > 1
    status, on_sale = fetch_json(f"{base}/api/v1/products/")
    assert status == 200, on_sale

    api_log_in(page, base, accounts["editor"], "/api/v1/products/")
    page.get_by_role("button", name="Filters").click()
    dialog = page.locator("#filtersModal")  # aria-hidden by DRF's template, so no role query
    expect(dialog.locator("h2", has_text="Field filters")).to_be_visible()
    screenshot(page, "browsable-api-filters")

    category_list = dialog.get_by_label("Category:", exact=True)
    names = [entry["name"] for entry in categories["results"]]
    expect(category_list.locator("option")).to_have_text(names)
    expect(dialog.locator("label[for=id_in_stock]")).to_have_text("In stock:")
    for label in ("In stock:", "Active:"):
        choices = dialog.get_by_label(label, exact=True).locator("option")
        expect(choices).to_have_text(["Any", "Yes", "No"])
    help_texts = dialog.locator("[id$=_helptext]")
    expect(help_texts).to_have_count(8)
    for text in help_texts.all_inner_texts():
        assert text.strip(), "an empty help text"
        assert "`" not in text, f"markdown shown raw: {text}"

    category_list.select_option(label="Kitchen")
    dialog.get_by_label("In stock:", exact=True).select_option(label="Yes")
    dialog.get_by_label("Active:", exact=True).select_option(label="Yes")
    with page.expect_navigation():
        dialog.locator("button[type=submit]", has_text="Submit").click()

    expect(page).to_have_url(  # the fields left empty are not sent
        f"{base}/api/v1/products/?category={kitchen['id']}&in_stock=true&is_active=true"
    )
    shown = shown_json(page)
    assert 0 < shown["count"] < on_sale["count"]
    assert {item["category"] for item in shown["results"]} <= in_kitchen
    assert {(item["in_stock"], item["is_active"]) for item in shown["results"]} == {(True, True)}
    query = f"category={kitchen['id']}&in_stock=true"
    status, expected = fetch_json(f"{base}/api/v1/products/?{query}")  # anonymous: on sale only
    assert [item["id"] for item in shown["results"]] == [item["id"] for item in expected["results"]]
    screenshot(page, "browsable-api-filtered")
    traffic.assert_stayed_on(base)


def test_browsable_api_root_shows_its_description_as_text(live_server, page, traffic):
    base = live_server.url

    page.goto(f"{base}/api/v1/")

    description = page.locator(".content-main .pull-left")
    expect(description).to_contain_text(
        "Log in by posting a username (or email) and password to auth/token/"
    )
    text = description.inner_text()
    for raw in ("`", "**", "<br", "&quot;"):
        assert raw not in text, f"{raw!r} shown as it is written: {text}"
    expect(page.locator(".response-info")).to_contain_text('"products"')
    screenshot(page, "browsable-api-root")
    traffic.assert_stayed_on(base)


def documented_operations(base: str) -> list[dict]:
    status, schema = fetch_json(f"{base}/api/v1/schema/?format=json")
    assert status == 200, schema
    operations = [
        operation
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    for operation in operations:
        assert operation.get("summary"), f"{operation['operationId']} has no summary"
        assert operation.get("description"), f"{operation['operationId']} has no description"
    return operations


def assert_headings_are_summaries(headings: list[str], operations: list[dict]) -> None:
    """Each operation is headed by its summary, a phrase for people, never its operation id."""
    operation_ids = {operation["operationId"] for operation in operations}
    assert sorted(headings) == sorted(operation["summary"] for operation in operations)
    for heading in headings:
        assert heading not in operation_ids, heading
        assert not re.fullmatch(r"[a-z0-9_]+", heading), heading
        assert "`" not in heading, heading  # a heading shows markdown as written


def test_swagger_ui_heads_every_operation_with_its_summary(live_server, page, traffic):
    base = live_server.url
    operations = documented_operations(base)

    page.goto(f"{base}/api/v1/docs/", wait_until="networkidle")

    headings = page.locator(".opblock .opblock-summary-description")
    expect(headings).to_have_count(len(operations), timeout=20_000)
    assert_headings_are_summaries(headings.all_inner_texts(), operations)
    screenshot(page, "swagger-ui")
    screenshot(page, "swagger-ui-full", full_page=True)

    listing = page.locator("#operations-products-products_list")
    listing.locator(".opblock-summary").click()
    description = listing.locator(".opblock-description-wrapper")
    expect(description.locator("code", has_text="is_active")).to_be_visible()
    assert "`" not in description.inner_text()
    listing.evaluate("operation => operation.scrollIntoView()")
    screenshot(page, "swagger-ui-list-products")
    traffic.assert_stayed_on(base)
    traffic.assert_none_failed()


def test_redoc_heads_every_operation_with_its_summary(live_server, page, traffic):
    base = live_server.url
    operations = documented_operations(base)

    page.goto(f"{base}/api/v1/redoc/", wait_until="networkidle")

    headings = page.locator("[data-section-id^='operation/'] h2")
    expect(headings).to_have_count(len(operations), timeout=20_000)
    assert_headings_are_summaries(headings.all_inner_texts(), operations)
    screenshot(page, "redoc")

    listing = page.locator("[data-section-id='operation/products_list']")
    listing.locator("h2").evaluate("heading => heading.scrollIntoView()")
    expect(listing.locator("code", has_text="is_active").first).to_be_visible()
    for text in listing.locator("p").all_inner_texts():
        assert "`" not in text, f"markdown shown raw: {text}"
    screenshot(page, "redoc-list-products")
    page.wait_for_load_state("networkidle")
    traffic.assert_stayed_on(base)
    traffic.assert_none_failed()


def open_admin_changelist(page: Page, base: str, path: str) -> Locator:
    """The rows of a change list, opened with the navigation sidebar as it starts: open."""
    page.goto(f"{base}/admin/{path}/")
    expect(page.locator("#nav-sidebar")).to_be_visible()
    expect(page.locator("#main")).to_have_class(re.compile(r"\bshifted\b"))
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    return rows


def assert_nothing_hidden_sideways(page: Page) -> None:
    for box in ("html", "#changelist-form .results"):
        if page.locator(box).count():
            assert hidden_sideways(page.locator(box)) == 0, f"{box} scrolls sideways"


def test_admin_product_list_reads_well_at_1280_by_800(live_server, accounts, page, traffic):
    base = live_server.url
    admin_log_in(page, base, accounts["admin"])
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert_nothing_hidden_sideways(page)
    screenshot(page, "admin-index-1280x800")

    rows = open_admin_changelist(page, base, "products/product")

    expect(page.locator("#changelist-filter")).to_be_visible()
    expect(rows).to_have_count(50)
    screenshot(page, "admin-products-1280x800")
    screenshot(page, "admin-products-1280x800-full", full_page=True)
    assert_nothing_hidden_sideways(page)
    assert max(lines_of_text(rows.locator(".field-name"))) <= 2
    link = rows.first.locator(".field-name a").get_attribute("href")
    product_id = int(re.search(r"/(\d+)/change/", link)[1])
    product = page.request.get(f"{base}/api/v1/products/{product_id}/").json()  # as staff
    for column in ("created_at", "updated_at"):
        expect(page.locator(f"#result_list th.column-{column}")).to_be_in_viewport(ratio=1)
        cell = rows.first.locator(f".field-{column}")
        expect(cell).to_be_in_viewport(ratio=1)
        day, minute = product[column][:10], product[column][11:16]  # UTC, the TIME_ZONE
        expect(cell).to_have_text(f"{day} {minute}", use_inner_text=True)
    traffic.assert_stayed_on(base)


@pytest.mark.parametrize(
    ("name", "path"), [("categories", "products/category"), ("users", "users/user")]
)
def test_admin_lists_fit_at_1280_by_800(live_server, accounts, page, traffic, name, path):
    base = live_server.url
    admin_log_in(page, base, accounts["admin"])

    open_admin_changelist(page, base, path)

    screenshot(page, f"admin-{name}-1280x800")
    assert_nothing_hidden_sideways(page)
    traffic.assert_stayed_on(base)


def test_admin_product_form_fits_at_1280_by_800(live_server, accounts, page, traffic):
    base = live_server.url
    admin_log_in(page, base, accounts["admin"])
    rows = open_admin_changelist(page, base, "products/product")
    name = rows.first.locator(".field-name a")
    product_name = name.inner_text()

    name.click()

    expect(page.get_by_role("heading", name="Change product")).to_be_visible()
    expect(page.get_by_label("Name:", exact=True)).to_have_value(product_name)
    for label in ("Name:", "SKU:", "Price:", "Stock:"):
        expect(page.get_by_label(label, exact=True)).to_be_in_viewport(ratio=1)
    expect(page.locator(".field-category .select2-selection")).to_be_in_viewport(ratio=1)
    screenshot(page, "admin-product-change-1280x800")
    screenshot(page, "admin-product-change-1280x800-full", full_page=True)
    assert_nothing_hidden_sideways(page)
    traffic.assert_stayed_on(base)
