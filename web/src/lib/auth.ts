// The signed-in session. The token lives in this module's memory only: never in a URL,
// never in localStorage or a cookie. A reload signs out; an expired token (401) ends the
// session but leaves the page mounted, so a half-filled form survives re-sign-in.
import { useSyncExternalStore } from "react";
import { store } from "./store";

export interface Session {
  token: string;
  username: string;
  via: "demo" | "oidc";
}

export interface AuthState {
  session: Session | null;
  /** Set when a request came back 401: the page stays, a sign-in dialog covers it. */
  expired: boolean;
}

const state = store<AuthState>({ session: null, expired: false });

export const auth = {
  get: state.get,
  subscribe: state.subscribe,
  token(): string | null {
    return state.get().session?.token ?? null;
  },
  signIn(session: Session): void {
    state.set({ session, expired: false });
  },
  expire(): void {
    if (state.get().session) state.set({ session: null, expired: true });
  },
  signOut(): void {
    state.set({ session: null, expired: false });
  },
};

export function useAuth(): AuthState {
  return useSyncExternalStore(state.subscribe, state.get);
}

export interface DemoAccount {
  username: string;
  displayName: string;
  role: string;
  roleLabel: string;
  regionName: string | null;
}

export interface OidcConfig {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
  scope: string;
  /** which token of the provider's answer the API verifies: access_token or id_token */
  tokenField: "access_token" | "id_token";
}

export interface AuthConfig {
  demo: boolean;
  accounts: DemoAccount[];
  oidc: OidcConfig | null;
}

export async function loadAuthConfig(locale: string): Promise<AuthConfig> {
  const res = await fetch("/auth/config", { headers: { "Accept-Language": locale } });
  if (!res.ok) throw new Error(`/auth/config: ${res.status}`);
  return (await res.json()) as AuthConfig;
}

export async function demoSignIn(username: string): Promise<void> {
  const res = await fetch("/auth/demo-token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username }),
  });
  const body = (await res.json()) as { token?: string; error?: string };
  if (!res.ok || !body.token) throw new Error(body.error ?? `HTTP ${res.status}`);
  auth.signIn({ token: body.token, username, via: "demo" });
}

// --- OIDC authorization code with PKCE ------------------------------------------------
// Only the verifier and state cross the redirect (sessionStorage, removed on return);
// the token is kept in memory.

const PKCE_KEY = "closedloop.pkce";
export const CALLBACK_PATH = "/signin/callback";

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export async function startOidc(cfg: OidcConfig): Promise<void> {
  const verifier = randomString(48);
  const oauthState = randomString(16);
  sessionStorage.setItem(
    PKCE_KEY,
    JSON.stringify({ verifier, state: oauthState, returnTo: location.pathname }),
  );
  const url = new URL(cfg.authorizationEndpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", cfg.clientId);
  url.searchParams.set("redirect_uri", location.origin + CALLBACK_PATH);
  url.searchParams.set("scope", cfg.scope);
  url.searchParams.set("state", oauthState);
  url.searchParams.set("code_challenge", await pkceChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  location.assign(url.toString());
}

/** On the callback page: trade the code for a token; the code leaves the address bar first. */
export async function finishOidc(cfg: OidcConfig): Promise<string> {
  const params = new URLSearchParams(location.search);
  const saved = sessionStorage.getItem(PKCE_KEY);
  sessionStorage.removeItem(PKCE_KEY);
  const pending = saved
    ? (JSON.parse(saved) as { verifier: string; state: string; returnTo: string })
    : null;
  const returnTo = pending?.returnTo ?? "/cockpit";
  history.replaceState(null, "", returnTo);
  const code = params.get("code");
  if (!pending || !code || params.get("state") !== pending.state) {
    throw new Error(params.get("error_description") ?? params.get("error") ?? "state mismatch");
  }
  const res = await fetch(cfg.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: location.origin + CALLBACK_PATH,
      client_id: cfg.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const token = body[cfg.tokenField];
  if (!res.ok || typeof token !== "string") {
    throw new Error(String(body["error_description"] ?? body["error"] ?? res.status));
  }
  auth.signIn({ token, username: "", via: "oidc" });
  return returnTo;
}
