/**
 * What a single-page app does with the API, step by step, through the typed client only, and a
 * check of every answer against the contract (shared API.md): statuses, bodies, headers.
 *
 *     API_URL=http://127.0.0.1:8000 STAFF_USERNAME=... STAFF_PASSWORD=... node dist/spa.js
 *
 * STAFF_USERNAME must be a staff user allowed to add and change products. Prints one line per
 * step; the first answer that breaks the contract stops it with exit status 1 and says why.
 */
import { randomUUID } from "node:crypto";

import {
  bearer,
  createAuthenticatedClient,
  createCatalogClient,
  TokenStore,
  type ApiError,
  type Category,
  type Product,
  type ProductListItem,
  type ProductListQuery,
  type TokenPair,
  type User,
  type ValidationError,
} from "./client.js";

// ---------------------------------------------------------------------------------------------
// Checking answers

class ContractError extends Error {
  override name = "ContractError";
}

function fail(step: string, message: string): never {
  throw new ContractError(`[${step}] ${message}`);
}

function check(condition: boolean, step: string, message: string): asserts condition {
  if (!condition) fail(step, message);
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return "<no body>";
  return text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

/** What openapi-fetch hands back: `data` on a 2xx, `error` otherwise, and the raw response. */
interface Answer<D, E> {
  data?: D;
  error?: E;
  response: Response;
}

function describe(answer: Answer<unknown, unknown>): string {
  const { response } = answer;
  const body = answer.error !== undefined ? answer.error : answer.data;
  return `HTTP ${response.status} from ${response.url}: ${show(body)}`;
}

/** The body of a successful answer, after checking its status. */
function expectData<D, E>(step: string, answer: Answer<D, E>, status: number): D {
  check(answer.response.status === status, step, `expected ${status}, got ${describe(answer)}`);
  check(answer.data !== undefined, step, `expected a JSON body with the ${status}, got none`);
  return answer.data;
}

/** The error body of a failed answer, after checking its status. */
function expectError<D, E>(step: string, answer: Answer<D, E>, status: number): E {
  check(answer.response.status === status, step, `expected ${status}, got ${describe(answer)}`);
  check(answer.error !== undefined, step, `expected a JSON error body with the ${status}`);
  return answer.error;
}

/** An answer that has no body by contract (204, 304). */
async function expectNoBody<D, E>(step: string, answer: Answer<D, E>, status: number) {
  check(answer.response.status === status, step, `expected ${status}, got ${describe(answer)}`);
  // openapi-fetch reads no body when Content-Length is 0 and parses whatever else there is into
  // `data` (2xx) or `error` (anything else, 304 included): either way, there must be nothing.
  const leftover = answer.response.bodyUsed ? "" : await answer.response.text();
  check(
    answer.data === undefined && answer.error === undefined && leftover === "",
    step,
    `expected no body with the ${status}, got ${show(answer.data ?? answer.error ?? leftover)}`,
  );
}

/** A request-level error: `{"detail": "..."}` with the given status. */
function expectDetail<D>(
  step: string,
  answer: Answer<D, ApiError | ValidationError>,
  status: number,
): string {
  const error = expectError(step, answer, status);
  const detail = error["detail"];
  check(
    typeof detail === "string" && detail.length > 0,
    step,
    `expected {"detail": "..."} with the ${status}, got ${show(error)}`,
  );
  return detail;
}

/** A validation error: `{"field": ["message", ...], ...}`. */
function isValidationError(error: ApiError | ValidationError): error is ValidationError {
  return Object.values(error).every(
    (messages) => Array.isArray(messages) && messages.every((m) => typeof m === "string"),
  );
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/; // UTC, microseconds
const MONEY = /^(\d{1,8})\.(\d{2})$/; // a decimal string with two places
const SKU = /^[A-Za-z0-9._-]{1,64}$/;
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** Cents from a money string, so that prices compare exactly. */
function cents(step: string, price: string): number {
  const match = MONEY.exec(price);
  check(match !== null, step, `price ${show(price)} is not a decimal string with two places`);
  return Number(match[1]) * 100 + Number(match[2]);
}

/** Every field the schema names, listed so that a field added to the schema fails to compile. */
type FieldList<T> = { readonly [K in keyof T]-?: true };
const USER_FIELDS: FieldList<User> = {
  id: true, username: true, email: true, first_name: true, last_name: true, is_staff: true,
  is_active: true, date_joined: true, email_verified: true, pending_email: true, mfa_enabled: true,
};
const PRODUCT_FIELDS: FieldList<Product> = {
  id: true, name: true, sku: true, description: true, price: true, stock: true, in_stock: true,
  is_active: true, category: true, category_name: true, created_at: true, updated_at: true,
  images: true,
};
const LIST_ITEM_FIELDS: FieldList<ProductListItem> = {
  id: true, name: true, sku: true, description: true, price: true, stock: true, in_stock: true,
  is_active: true, category: true, category_name: true, created_at: true, updated_at: true,
  image: true,
};
/** A product as a detail (`images`) or a list (`image`) shows it. */
type AnyProduct = Product | ProductListItem;
const TOKEN_FIELDS: FieldList<TokenPair> = {
  access: true, refresh: true, access_expires_at: true, refresh_expires_at: true,
};

function checkFields(step: string, what: string, body: object, fields: object) {
  const have = Object.keys(body).sort().join(", ");
  const want = Object.keys(fields).sort().join(", ");
  check(have === want, step, `${what} has the fields [${have}], the schema says [${want}]`);
}

function checkUser(step: string, user: User) {
  checkFields(step, "the user", user, USER_FIELDS);
  check(Number.isInteger(user.id) && user.id > 0, step, `bad user id ${show(user.id)}`);
  check(/^[\w.+-]{1,150}$/.test(user.username), step, `bad username ${show(user.username)}`);
  check(user.email.includes("@"), step, `bad email ${show(user.email)}`);
  check(typeof user.first_name === "string", step, "first_name is not a string");
  check(typeof user.last_name === "string", step, "last_name is not a string");
  check(typeof user.is_staff === "boolean", step, "is_staff is not a boolean");
  check(TIMESTAMP.test(user.date_joined), step, `bad date_joined ${show(user.date_joined)}`);
  check(typeof user.email_verified === "boolean", step, "email_verified is not a boolean");
  check(typeof user.pending_email === "string", step, "pending_email is not a string");
}

function checkTokens(step: string, pair: TokenPair, response: Response) {
  checkFields(step, "the token pair", pair, TOKEN_FIELDS);
  check(JWT.test(pair.access), step, `access is not a JWT: ${show(pair.access)}`);
  check(JWT.test(pair.refresh), step, `refresh is not a JWT: ${show(pair.refresh)}`);
  check(pair.access !== pair.refresh, step, "access and refresh are the same token");
  for (const expiry of [pair.access_expires_at, pair.refresh_expires_at]) {
    check(TIMESTAMP.test(expiry), step, `bad expiry ${show(expiry)}`);
    check(Date.parse(expiry) > Date.now(), step, `a new token expires in the past: ${expiry}`);
  }
  check(
    Date.parse(pair.access_expires_at) < Date.parse(pair.refresh_expires_at),
    step,
    "the access token outlives the refresh token",
  );
  const cacheControl = response.headers.get("Cache-Control") ?? "";
  check(
    cacheControl.includes("no-store"),
    step,
    `a token response must be Cache-Control: no-store, got ${show(cacheControl)}`,
  );
}

function checkProduct(step: string, product: AnyProduct) {
  const at = `product ${show(product.id)}`;
  checkFields(step, at, product, "images" in product ? PRODUCT_FIELDS : LIST_ITEM_FIELDS);
  check(Number.isInteger(product.id) && product.id > 0, step, `bad id in ${show(product)}`);
  check(product.name.length >= 1 && product.name.length <= 200, step, `${at}: bad name`);
  check(SKU.test(product.sku), step, `${at}: bad sku ${show(product.sku)}`);
  check(typeof product.description === "string", step, `${at}: description is not a string`);
  const price = cents(step, product.price);
  check(price <= 9_999_999_999, step, `${at}: price ${product.price} is over the maximum`);
  check(Number.isInteger(product.stock) && product.stock >= 0, step, `${at}: bad stock`);
  check(product.in_stock === product.stock > 0, step, `${at}: in_stock disagrees with stock`);
  check(typeof product.is_active === "boolean", step, `${at}: is_active is not a boolean`);
  check(
    (product.category === null) === (product.category_name === null),
    step,
    `${at}: category ${show(product.category)} but category_name ${show(product.category_name)}`,
  );
  check(TIMESTAMP.test(product.created_at), step, `${at}: bad created_at ${product.created_at}`);
  check(TIMESTAMP.test(product.updated_at), step, `${at}: bad updated_at ${product.updated_at}`);
  check(product.updated_at >= product.created_at, step, `${at}: updated before it was created`);
}

/** Checks that `products` are in the order of `key` (then `-id`, the contract's last key). */
function checkOrder(
  step: string,
  products: AnyProduct[],
  key: (p: AnyProduct) => number | string,
  descending: boolean,
) {
  for (let i = 1; i < products.length; i += 1) {
    const [a, b] = [products[i - 1], products[i]];
    if (a === undefined || b === undefined) continue;
    const [ka, kb] = [key(a), key(b)];
    const inOrder = ka === kb ? a.id > b.id : descending ? ka > kb : ka < kb;
    check(inOrder, step, `products ${a.id} (${ka}) and ${b.id} (${kb}) are out of order`);
  }
}

function sameIds(step: string, what: string, got: AnyProduct[], want: AnyProduct[]) {
  const have = got.map((p) => p.id).sort((x, y) => x - y);
  const expected = want.map((p) => p.id).sort((x, y) => x - y);
  check(
    have.join(",") === expected.join(","),
    step,
    `${what}: got ids [${have.join(", ")}], the catalog says [${expected.join(", ")}]`,
  );
}

function log(step: string, message: string) {
  console.log(`ok  ${step.padEnd(12)} ${message}`);
}

// ---------------------------------------------------------------------------------------------
// The steps

/** A 1x1 red PNG: the smallest picture the image upload takes. */
const ONE_PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

interface Environment {
  apiUrl: string;
  staffUsername: string;
  staffPassword: string;
  expiredAccess: string; // an access token past its lifetime, of the session of...
  itsRefresh: string; // ...this refresh token, still good
}

function environment(): Environment {
  const names = ["API_URL", "STAFF_USERNAME", "STAFF_PASSWORD", "EXPIRED_ACCESS", "ITS_REFRESH"];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length > 0) {
    throw new ContractError(`set ${missing.join(", ")} in the environment`);
  }
  return {
    apiUrl: process.env["API_URL"] ?? "",
    staffUsername: process.env["STAFF_USERNAME"] ?? "",
    staffPassword: process.env["STAFF_PASSWORD"] ?? "",
    expiredAccess: process.env["EXPIRED_ACCESS"] ?? "",
    itsRefresh: process.env["ITS_REFRESH"] ?? "",
  };
}

async function main() {
  const env = environment();
  const api = createCatalogClient(env.apiUrl); // anonymous
  const tokens = new TokenStore(); // the new customer's
  const customer = createAuthenticatedClient(env.apiUrl, tokens);
  const run = `${Date.now().toString(36)}${randomUUID().slice(0, 6)}`;

  // 1. Register a new user (a unique name per run).
  let step = "register";
  const username = `spa-${run}`;
  const email = `${username}@example.com`;
  const password = randomUUID();
  const registered = expectData(
    step,
    await api.POST("/api/v1/auth/register/", {
      body: { username, email, password, first_name: "Spa", last_name: "Check" },
    }),
    201,
  );
  checkUser(step, registered);
  check(registered.username === username, step, `username came back as ${registered.username}`);
  check(registered.email === email, step, `email came back as ${registered.email}`);
  check(registered.first_name === "Spa" && registered.last_name === "Check", step, "names lost");
  check(!registered.is_staff, step, "a new user is staff");
  check(!("password" in registered), step, "the answer carries the password");
  log(step, `201 user ${registered.username} (id ${registered.id})`);

  // 2. Log in with the email.
  step = "login";
  const login = await api.POST("/api/v1/auth/token/", { body: { username: email, password } });
  const pair = expectData(step, login, 200);
  checkTokens(step, pair, login.response);
  tokens.set(pair);
  log(step, "200 {access, refresh} for the email, Cache-Control: no-store");

  // 3. The profile, with the access token (and refused without it).
  step = "users/me";
  const me = expectData(step, await customer.GET("/api/v1/users/me/"), 200);
  checkUser(step, me);
  const same = me.id === registered.id && me.username === username && me.email === email;
  check(same, step, `/users/me/ answers for someone else: ${show(me)}`);
  expectDetail(`${step} anon`, await api.GET("/api/v1/users/me/"), 401);
  log(step, `200 ${me.username} with the bearer token; 401 without one`);

  // 4. Refresh: a new pair, and the old refresh token is spent.
  step = "refresh";
  const spent = pair.refresh;
  const refreshed = await api.POST("/api/v1/auth/token/refresh/", { body: { refresh: spent } });
  const newPair = expectData(step, refreshed, 200);
  checkTokens(step, newPair, refreshed.response);
  check(newPair.refresh !== spent, step, "the refresh token did not rotate");
  tokens.set(newPair);
  const reused = await api.POST("/api/v1/auth/token/refresh/", { body: { refresh: spent } });
  expectDetail(`${step} reuse`, reused, 401);
  expectData(`${step} me`, await customer.GET("/api/v1/users/me/"), 200);
  log(step, "200 new pair; the old refresh token is refused with 401; the new access works");

  // 5. Page through the whole product list, following `next` until it is null.
  step = "paginate";
  const pageSize = 7;
  const all: ProductListItem[] = [];
  const seen = new Set<number>();
  const listPath = new URL("/api/v1/products/", env.apiUrl).href;
  let query: ProductListQuery = { page_size: pageSize };
  let count: number | undefined;
  let pages = 0;
  for (;;) {
    const answer = await customer.GET("/api/v1/products/", { params: { query } });
    const page = expectData(step, answer, 200);
    pages += 1;
    count ??= page.count;
    check(page.count === count, step, `count went from ${count} to ${page.count} (page ${pages})`);
    check(page.results.length <= pageSize, step, `page ${pages} has ${page.results.length} rows`);
    check((page.previous ?? null) === null || pages > 1, step, "page 1 has a previous page");
    for (const product of page.results) {
      checkProduct(step, product);
      check(!seen.has(product.id), step, `product ${product.id} came twice (page ${pages})`);
      check(product.is_active, step, `a customer sees inactive product ${product.id}`);
      seen.add(product.id);
      all.push(product);
    }
    const next = page.next ?? null;
    if (next === null) break;
    const url = new URL(next);
    check(`${url.origin}${url.pathname}` === listPath, step, `next is not absolute: ${next}`);
    const nextPage = Number(url.searchParams.get("page"));
    check(nextPage === pages + 1, step, `next after page ${pages} is ${next}`);
    const nextSize = url.searchParams.get("page_size");
    check(nextSize === String(pageSize), step, `next lost page_size: ${next}`);
    check(pages < 1000, step, "more than 1000 pages: `next` never ends");
    query = { page_size: pageSize, page: nextPage };
  }
  const total = `${all.length} products over ${pages} pages`;
  check(all.length === count, step, `${total}, but count says ${count}`);
  check(all.length > 0, step, "the catalog is empty: nothing to check the filters with");
  checkOrder(step, all, (p) => p.created_at, true); // the default: -created_at, then -id
  const pastEnd = await customer.GET("/api/v1/products/", {
    params: { query: { page_size: pageSize, page: pages + 1 } },
  });
  expectDetail(`${step} end`, pastEnd, 404);
  log(step, `${total} of ${pageSize}, no repeats, -created_at order; page ${pages + 1} is 404`);

  // 6. Filters and ordering: every row matches, the order holds, and nothing is left out.
  step = "filter";
  const categoryList = await api.GET("/api/v1/categories/", {
    params: { query: { page_size: 100 } },
  });
  const categories = expectData(step, categoryList, 200).results;
  const stocked = (c: Category) => all.filter((p) => p.category === c.id && p.in_stock).length;
  const chosen = categories.filter((c) => stocked(c) > 0).sort((a, b) => stocked(b) - stocked(a));
  const picked = chosen.slice(0, 2).map((c) => c.id);
  check(picked.length > 0, step, "no category has a product in stock");
  const candidates = all.filter((p) => p.category !== null && picked.includes(p.category));
  const prices = candidates
    .filter((p) => p.in_stock)
    .map((p) => cents(step, p.price))
    .sort((a, b) => a - b);
  const minCents = prices[Math.floor(prices.length / 2)] ?? 0; // about half of them
  const minPrice = (minCents / 100).toFixed(2); // a price bound is written like a price
  const filters: ProductListQuery = {
    category: picked, min_price: minPrice, in_stock: true, ordering: "-price", page_size: 100,
  };
  const filterAnswer = await customer.GET("/api/v1/products/", { params: { query: filters } });
  const filtered = expectData(step, filterAnswer, 200);
  const onePage = filtered.count === filtered.results.length && (filtered.next ?? null) === null;
  check(onePage, step, `expected one page of ${filtered.count}: ${show(filtered)}`);
  for (const p of filtered.results) {
    checkProduct(step, p);
    const inPicked = p.category !== null && picked.includes(p.category);
    check(inPicked, step, `product ${p.id} is in category ${p.category}, not ${picked.join("/")}`);
    check(cents(step, p.price) >= minCents, step, `product ${p.id} costs ${p.price} < ${minPrice}`);
    check(p.in_stock && p.stock > 0, step, `product ${p.id} is not in stock`);
  }
  checkOrder(step, filtered.results, (p) => cents(step, p.price), true);
  const expected = candidates.filter((p) => p.in_stock && cents(step, p.price) >= minCents);
  sameIds(step, "the filtered list", filtered.results, expected);
  check(filtered.results.length > 0, step, "the filters matched nothing: nothing was checked");
  const described = `category=${picked.join("&category=")}&min_price=${minPrice}&in_stock=true`;
  log(step, `${described}&ordering=-price: ${filtered.count} products, all matching, in order`);

  step = "search";
  const sample = all[Math.floor(all.length / 2)];
  check(sample !== undefined, step, "no product to search for");
  const word = sample.name.split(/\s+/).find((w) => w.length >= 4) ?? sample.sku;
  const term = word.toLowerCase(); // the search ignores case
  const searchAnswer = await customer.GET("/api/v1/products/", {
    params: { query: { search: term, ordering: "price", page_size: 100 } },
  });
  const searched = expectData(step, searchAnswer, 200);
  check((searched.next ?? null) === null, step, `expected one page: ${show(searched)}`);
  const matches = (p: AnyProduct) =>
    [p.name, p.description, p.sku].some((text) => text.toLowerCase().includes(term));
  for (const p of searched.results) {
    checkProduct(step, p);
    check(matches(p), step, `product ${p.id} (${p.name}) does not contain ${show(term)}`);
  }
  checkOrder(step, searched.results, (p) => cents(step, p.price), false);
  sameIds(step, `search=${term}`, searched.results, all.filter(matches));
  log(step, `search=${term}&ordering=price: ${searched.count} products, all matching, in order`);

  // 7. The staff editor creates a product, then changes it.
  step = "staff login";
  const staffTokens = new TokenStore();
  const staff = createAuthenticatedClient(env.apiUrl, staffTokens);
  const staffLogin = await api.POST("/api/v1/auth/token/", {
    body: { username: env.staffUsername, password: env.staffPassword },
  });
  const staffPair = expectData(step, staffLogin, 200);
  checkTokens(step, staffPair, staffLogin.response);
  staffTokens.set(staffPair);
  const editor = expectData(step, await staff.GET("/api/v1/users/me/"), 200);
  check(editor.is_staff, step, `${editor.username} is not staff`);
  log(step, `200 ${editor.username} (staff)`);

  step = "create";
  const category = categories.find((c) => c.id === picked[0]);
  check(category !== undefined, step, "the chosen category is gone");
  const sku = `SPA-${run.toUpperCase()}`;
  const createAnswer = await staff.POST("/api/v1/products/", {
    body: {
      name: `SPA check ${run}`,
      sku,
      description: "Made by the TypeScript SPA check.",
      price: "12.50",
      stock: 3,
      category: category.id,
    },
  });
  const created = expectData(step, createAnswer, 201);
  checkProduct(step, created);
  check(created.sku === sku && created.name === `SPA check ${run}`, step, show(created));
  check(created.price === "12.50", step, `price came back as ${show(created.price)}`);
  check(created.stock === 3 && created.in_stock, step, `stock came back as ${created.stock}`);
  check(created.is_active, step, "a new product is not active by default");
  const sameCategory = created.category === category.id && created.category_name === category.name;
  const gotCategory = show([created.category, created.category_name]);
  check(sameCategory, step, `category came back as ${gotCategory}`);
  log(step, `201 product ${created.id} ${created.sku} at ${created.price}`);

  step = "patch";
  const patchAnswer = await staff.PATCH("/api/v1/products/{id}/", {
    params: { path: { id: created.id } },
    body: { price: "15.00", stock: 0 },
  });
  const patched = expectData(step, patchAnswer, 200);
  checkProduct(step, patched);
  check(patched.price === "15.00" && patched.stock === 0 && !patched.in_stock, step, show(patched));
  check(patched.name === created.name && patched.sku === created.sku, step, "PATCH changed more");
  check(patched.created_at === created.created_at, step, "PATCH changed created_at");
  log(step, `200 product ${patched.id} now at ${patched.price}, stock 0, in_stock false`);

  // 8. An invalid product: 400 with the errors by field.
  step = "invalid";
  const refused = await staff.POST("/api/v1/products/", {
    body: { name: `SPA broken ${run}`, sku: "bad sku!", price: "-1.00" },
  });
  const errors = expectError(step, refused, 400);
  check(isValidationError(errors), step, `expected {"field": ["message"]}, got ${show(errors)}`);
  for (const field of ["price", "sku"]) {
    const messages = errors[field];
    const named = messages !== undefined && messages.length > 0;
    check(named, step, `the 400 does not name ${field}: ${show(errors)}`);
    log(step, `400 ${field}: ${messages.join(" ")}`);
  }

  // 9. Conditional requests: ETag, If-None-Match -> 304, If-Match -> 412 when stale.
  step = "etag";
  const first = await staff.GET("/api/v1/products/{id}/", { params: { path: { id: created.id } } });
  const current = expectData(step, first, 200);
  checkProduct(step, current);
  check(current.price === "15.00", step, `GET after PATCH gives the old price ${current.price}`);
  const etag = first.response.headers.get("ETag");
  check(etag !== null && etag.length > 0, step, "no ETag on a product GET");
  const revalidated = await staff.GET("/api/v1/products/{id}/", {
    params: { path: { id: created.id }, header: { "If-None-Match": etag } },
  });
  await expectNoBody(step, revalidated, 304);
  const sameTag = revalidated.response.headers.get("ETag");
  check(sameTag === null || sameTag === etag, step, `the 304 carries another ETag ${sameTag}`);
  log(step, `200 with ETag ${etag}; If-None-Match -> 304, no body`);

  step = "if-match";
  const matching = await staff.PATCH("/api/v1/products/{id}/", {
    params: { path: { id: created.id }, header: { "If-Match": etag } },
    body: { stock: 5 },
  });
  const changed = expectData(step, matching, 200);
  check(changed.stock === 5 && changed.in_stock, step, `stock came back as ${changed.stock}`);
  const fresh = await staff.GET("/api/v1/products/{id}/", {
    params: { path: { id: created.id }, header: { "If-None-Match": etag } },
  });
  const freshBody = expectData(`${step} stale`, fresh, 200);
  check(freshBody.stock === 5, step, "revalidating a stale ETag gave the old product");
  check(fresh.response.headers.get("ETag") !== etag, step, "the ETag did not change on a write");
  const stale = await staff.PATCH("/api/v1/products/{id}/", {
    params: { path: { id: created.id }, header: { "If-Match": etag } },
    body: { stock: 99 },
  });
  expectDetail(step, stale, 412);
  const byId = { params: { path: { id: created.id } } };
  const reread = await staff.GET("/api/v1/products/{id}/", byId);
  const after = expectData(step, reread, 200);
  check(after.stock === 5, step, `a 412 wrote anyway: stock is ${after.stock}`);
  log(step, "current If-Match -> 200; old ETag -> 200 with the new body; stale If-Match -> 412");

  // 10. The storefront: the category tree, facet counts, cursor pages, a create sent twice
  // with one Idempotency-Key, an image, and the change history of what was done above.
  step = "tree";
  const tree = expectData(step, await api.GET("/api/v1/categories/tree/"), 200);
  interface TreeNode {
    id: number;
    children: TreeNode[];
  }
  const holds = (nodes: TreeNode[], id: number): boolean =>
    nodes.some((node) => node.id === id || holds(node.children, id));
  check(holds(tree, category.id), step, `category ${category.id} is not in the tree`);
  log(step, `200 ${tree.length} root categories, category ${category.id} among them`);

  step = "facets";
  const facets = expectData(step, await api.GET("/api/v1/products/facets/"), 200);
  const firstPage = { params: { query: { page_size: 1 } } };
  const counted = expectData(step, await api.GET("/api/v1/products/", firstPage), 200).count;
  check(facets.count === counted, step, `facets count ${facets.count}, the list ${counted}`);
  const banded = facets.price.reduce((sum, band) => sum + band.count, 0);
  check(banded === facets.count, step, `the price bands hold ${banded} of ${facets.count}`);
  const inStockOrNot = facets.in_stock.true + facets.in_stock.false;
  check(inStockOrNot === facets.count, step, `stock: ${inStockOrNot} of ${facets.count}`);
  log(step, `200 ${facets.count} products, ${facets.categories.length} categories, 5 bands`);

  step = "cursor";
  const walked = new Set<number>();
  let cursorQuery: ProductListQuery = { pagination: "cursor", page_size: 50 };
  for (let pageNumber = 0; ; pageNumber++) {
    check(pageNumber < 1000, step, "the cursor pages never end");
    const page = expectData(step, await api.GET("/api/v1/products/", { params: { query: cursorQuery } }), 200);
    check(page.count === undefined, step, "a cursor page has a count");
    for (const product of page.results) {
      check(!walked.has(product.id), step, `product ${product.id} came twice`);
      walked.add(product.id);
    }
    if (page.next === null || page.next === undefined) break;
    const cursor = new URL(page.next).searchParams.get("cursor");
    check(cursor !== null, step, `next has no cursor: ${page.next}`);
    cursorQuery = { pagination: "cursor", page_size: 50, cursor };
  }
  check(walked.size === facets.count, step, `walked ${walked.size} of ${facets.count} products`);
  log(step, `every one of the ${walked.size} products once, 50 a page`);

  step = "idempotent";
  const keyed = {
    params: { header: { "Idempotency-Key": randomUUID() } },
    body: { name: `SPA keyed ${run}`, sku: `SPA-K-${run.toUpperCase()}`, price: "3.00" },
  };
  const sentOnce = await staff.POST("/api/v1/products/", keyed);
  const sentTwice = await staff.POST("/api/v1/products/", keyed);
  const madeOnce = expectData(step, sentOnce, 201);
  const answeredTwice = expectData(step, sentTwice, 201);
  check(madeOnce.id === answeredTwice.id, step, "the retry made a second product");
  const replayed = sentTwice.response.headers.get("Idempotent-Replayed");
  check(replayed === "true", step, `the retry is not marked replayed: ${replayed}`);
  check(!sentOnce.response.headers.has("Idempotent-Replayed"), step, "the first is replayed");
  const keyedById = { params: { path: { id: madeOnce.id } } };
  await expectNoBody(step, await staff.DELETE("/api/v1/products/{id}/", keyedById), 204);
  log(step, `201 product ${madeOnce.id}; the same key again: the same 201, Idempotent-Replayed`);

  step = "image";
  const picture = new FormData();
  picture.append("image", new Blob([Buffer.from(ONE_PIXEL_PNG, "base64")], { type: "image/png" }), "spa.png");
  picture.append("alt", "One red pixel");
  const uploaded = expectData(
    step,
    await staff.POST("/api/v1/products/{product_pk}/images/", {
      params: { path: { product_pk: created.id } },
      body: { image: "spa.png", alt: "One red pixel" },
      bodySerializer: () => picture,
    }),
    201,
  );
  check(uploaded.width === 1 && uploaded.height === 1, step, `size ${uploaded.width}x${uploaded.height}`);
  const shown = expectData(step, await api.GET("/api/v1/products/{id}/", byId), 200);
  check(shown.images.length === 1 && shown.images[0]?.id === uploaded.id, step, show(shown.images));
  const thumb = await fetch(new URL(uploaded.renditions.thumb, env.apiUrl));
  check(thumb.status === 200, step, `the thumbnail answers ${thumb.status}`);
  const thumbType = thumb.headers.get("Content-Type");
  check(thumbType === "image/webp", step, `the thumbnail is ${thumbType}`);
  log(step, `201 image ${uploaded.id}; the product shows it; its thumbnail is served as WebP`);

  step = "history";
  const changes = expectData(step, await staff.GET("/api/v1/products/{id}/history/", byId), 200);
  const newest = changes.results[0];
  check(newest !== undefined, step, "no history");
  check(newest.via === "api" && newest.actor?.username === editor.username, step, show(newest));
  check(JSON.stringify(newest.changes["stock"]) === "[0,5]", step, show(newest.changes));
  expectDetail(step, await customer.GET("/api/v1/products/{id}/history/", byId), 404);
  log(step, `${changes.count} changes, the newest the stock 0 -> 5 by ${editor.username}; 404 to a customer`);

  step = "delete";
  await expectNoBody(step, await staff.DELETE("/api/v1/products/{id}/", byId), 204);
  expectDetail(step, await staff.GET("/api/v1/products/{id}/", byId), 404);
  log(step, `204 product ${created.id}; then 404`);

  // 11. Log out: the refresh token is refused afterwards.
  step = "logout";
  const loggedOut = tokens.refresh;
  check(loggedOut !== null, step, "no refresh token to log out with");
  const logout = { body: { refresh: loggedOut } };
  await expectNoBody(step, await customer.POST("/api/v1/auth/logout/", logout), 204);
  tokens.clear();
  const afterLogout = await api.POST("/api/v1/auth/token/refresh/", logout);
  expectDetail(`${step} refresh`, afterLogout, 401);
  expectDetail(`${step} again`, await api.POST("/api/v1/auth/logout/", logout), 401);
  const staffRefresh = staffTokens.refresh;
  check(staffRefresh !== null, step, "no staff refresh token");
  const staffLogout = { body: { refresh: staffRefresh } };
  await expectNoBody(step, await staff.POST("/api/v1/auth/logout/", staffLogout), 204);
  staffTokens.clear();
  log(step, "204; the refresh token is then refused (401), and so is a second log-out (401)");

  // 12. An expired access token: the client refreshes once, for every request that met it.
  step = "token expired";
  const expired = await api.GET("/api/v1/users/me/", { headers: bearer(env.expiredAccess) });
  expectDetail(step, expired, 401);
  check(expired.error?.code === "token_expired", step, `code ${show(expired.error)}`);
  const later = new TokenStore();
  later.access = env.expiredAccess;
  later.refresh = env.itsRefresh;
  const returning = createAuthenticatedClient(env.apiUrl, later);
  const together = await Promise.all([1, 2, 3].map(() => returning.GET("/api/v1/users/me/")));
  for (const answer of together) {
    expectData(step, answer, 200);
  }
  check(later.access !== env.expiredAccess, step, "the access token was not renewed");
  const spentAgain = await api.POST("/api/v1/auth/token/refresh/", {
    body: { refresh: env.itsRefresh },
  });
  expectDetail(`${step} reused`, spentAgain, 401);
  log(step, "401 token_expired; three requests then share one refresh and all answer 200");

  // 13. Sessions: each log-in is one; end another device's, then log out everywhere.
  step = "sessions";
  const credentials = { body: { username, password } };
  const phone = expectData(step, await api.POST("/api/v1/auth/token/", credentials), 200);
  const laptopPair = expectData(step, await api.POST("/api/v1/auth/token/", credentials), 200);
  const laptopTokens = new TokenStore();
  laptopTokens.set(laptopPair);
  const laptop = createAuthenticatedClient(env.apiUrl, laptopTokens);
  const listed = expectData(step, await laptop.GET("/api/v1/users/me/sessions/"), 200);
  check(listed.count === 2, step, `expected the two sessions, got ${show(listed)}`);
  const own = listed.results.filter((session) => session.current);
  check(own.length === 1, step, `expected exactly one current session: ${show(listed.results)}`);
  const other = listed.results.find((session) => !session.current);
  check(other !== undefined, step, "the phone's session is not listed");
  const ended = await laptop.DELETE("/api/v1/users/me/sessions/{id}/", {
    params: { path: { id: other.id } },
  });
  await expectNoBody(step, ended, 204);
  const phoneAfter = await api.GET("/api/v1/users/me/", { headers: bearer(phone.access) });
  expectDetail(step, phoneAfter, 401);
  check(phoneAfter.error?.code === "session_ended", step, `code ${show(phoneAfter.error)}`);
  expectData(step, await laptop.GET("/api/v1/users/me/"), 200);
  await expectNoBody(step, await laptop.POST("/api/v1/auth/logout-all/"), 204);
  const laptopAfter = await api.GET("/api/v1/users/me/", { headers: bearer(laptopPair.access) });
  expectDetail(step, laptopAfter, 401);
  check(laptopAfter.error?.code === "session_ended", step, `code ${show(laptopAfter.error)}`);
  log(step, "two log-ins listed, one current; the other ended (401 session_ended); then all");
}

main().then(
  () => {
    console.log("SPA check passed: every answer matched the contract");
  },
  (error: unknown) => {
    if (error instanceof ContractError) {
      console.error(`SPA check FAILED: ${error.message}`);
    } else {
      // Not an answer that broke the contract but no answer at all (the server is down, ...).
      const cause = error instanceof Error && error.cause !== undefined ? error.cause : undefined;
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      const because = cause === undefined ? "" : `\ncause: ${String(cause)}`;
      console.error(`SPA check FAILED: ${text}${because}`);
    }
    process.exitCode = 1;
  },
);
