/**
 * A thin typed client for the product-catalog API: openapi-fetch over the types that
 * openapi-typescript generates from schema.yml (src/schema.d.ts, `make client`).
 *
 *     const tokens = new TokenStore();
 *     const api = createAuthenticatedClient("http://127.0.0.1:8000", tokens);
 *     tokens.set((await api.POST("/api/v1/auth/token/", { body: credentials })).data!);
 *     const { data, error, response } = await api.GET("/api/v1/products/{id}/", {
 *       params: { path: { id: 1 } },
 *     });
 *
 * Paths, parameters, bodies and answers are all checked against the schema by the compiler.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** The API's schemas by name: `Schemas["Product"]`, `Schemas["ValidationError"]`, ... */
export type Schemas = components["schemas"];
export type User = Schemas["User"];
export type TokenPair = Schemas["TokenPair"];
export type Product = Schemas["Product"];
export type ProductRequest = Schemas["ProductRequest"];
/** A product as lists show it: `image` (its first image's renditions) instead of `images`. */
export type ProductListItem = Schemas["ProductListItem"];
export type ProductImage = Schemas["ProductImage"];
export type Category = Schemas["Category"];
export type ValidationError = Schemas["ValidationError"];
export type ApiError = Schemas["Error"];
export type ProductListQuery = NonNullable<operations["products_list"]["parameters"]["query"]>;

export type CatalogClient = Client<paths>;

/** A typed client for the API at `baseUrl`: scheme, host and port (the paths hold /api/v1/). */
export function createCatalogClient(
  baseUrl: string,
  options: Omit<ClientOptions, "baseUrl"> = {},
): CatalogClient {
  return createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
}

/** Where an SPA keeps its tokens between requests (in memory here). */
export class TokenStore {
  access: string | null = null;
  refresh: string | null = null;

  set(pair: TokenPair): void {
    this.access = pair.access;
    this.refresh = pair.refresh;
  }

  clear(): void {
    this.access = null;
    this.refresh = null;
  }
}

/**
 * Endpoints that never need a bearer token. An SPA leaves its Authorization header off these,
 * so that an expired access token can never get in the way of logging in or refreshing.
 */
const PUBLIC_PATHS: ReadonlySet<string> = new Set<keyof paths>([
  "/api/v1/auth/register/",
  "/api/v1/auth/token/",
  "/api/v1/auth/token/refresh/",
  "/api/v1/auth/token/verify/",
  "/api/v1/auth/password-reset/",
  "/api/v1/auth/password-reset/confirm/",
]);

/**
 * Middleware that sends `Authorization: Bearer <access>` with every request but the public
 * auth endpoints, whenever `getAccess()` gives a token. Register it with `client.use(...)`;
 * `client.eject(...)` removes it again.
 */
export function bearerAuth(getAccess: () => string | null | undefined): Middleware {
  return {
    onRequest({ request, schemaPath }) {
      const access = getAccess();
      if (access && !PUBLIC_PATHS.has(schemaPath)) {
        request.headers.set("Authorization", `Bearer ${access}`);
      }
      return request;
    },
  };
}

/** The header for one request, for calls made without the middleware: `{ headers: bearer(t) }`. */
export function bearer(access: string): { Authorization: string } {
  return { Authorization: `Bearer ${access}` };
}

/**
 * Middleware that answers an expired access token the way the API asks (a 401 whose `code` is
 * `token_expired`): it refreshes the store's tokens once and sends the request again with the
 * new access token. Requests that meet the expiry together share that one refresh (a refresh
 * token works once). Any other 401 (`token_not_valid`, `session_ended`: log in again), or a
 * refresh that fails, reaches the caller as it came. Register it after `bearerAuth`.
 */
export function refreshOnExpiry(tokens: TokenStore, baseUrl: string): Middleware {
  const sent = new Map<string, Request>(); // each request as sent, by id, to send again
  let refreshing: Promise<boolean> | null = null;
  const refreshOnce = (): Promise<boolean> => {
    refreshing ??= refreshTokens(tokens, baseUrl).finally(() => {
      refreshing = null;
    });
    return refreshing;
  };
  return {
    onRequest({ request, id }) {
      sent.set(id, request.clone());
      return undefined;
    },
    async onResponse({ response, id, options }) {
      const request = sent.get(id);
      sent.delete(id);
      if (request === undefined || !(await isExpiredToken(response))) {
        return undefined;
      }
      const usedAccess = request.headers.get("Authorization");
      const refreshed = usedAccess !== `Bearer ${tokens.access}` || (await refreshOnce());
      if (!refreshed || tokens.access === null) {
        return undefined;
      }
      request.headers.set("Authorization", `Bearer ${tokens.access}`);
      return options.fetch(request);
    },
  };
}

async function isExpiredToken(response: Response): Promise<boolean> {
  if (response.status !== 401) {
    return false;
  }
  const body: unknown = await response.clone().json().catch(() => null);
  return typeof body === "object" && body !== null && "code" in body
    && body.code === "token_expired";
}

/** Trade the store's refresh token for a new pair; false (and the store emptied) if refused. */
async function refreshTokens(tokens: TokenStore, baseUrl: string): Promise<boolean> {
  if (tokens.refresh === null) {
    return false;
  }
  const answer = await createCatalogClient(baseUrl).POST("/api/v1/auth/token/refresh/", {
    body: { refresh: tokens.refresh },
  });
  if (answer.data === undefined) {
    tokens.clear();
    return false;
  }
  tokens.set(answer.data);
  return true;
}

/** A client that sends the store's access token (see `bearerAuth`) and refreshes it when it
 * has expired (see `refreshOnExpiry`). */
export function createAuthenticatedClient(
  baseUrl: string,
  tokens: TokenStore,
  options: Omit<ClientOptions, "baseUrl"> = {},
): CatalogClient {
  const client = createCatalogClient(baseUrl, options);
  client.use(bearerAuth(() => tokens.access), refreshOnExpiry(tokens, baseUrl));
  return client;
}
