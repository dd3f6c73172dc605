// GraphQL over fetch with the typed documents generated from schema.graphql.
import { useCallback, useEffect, useRef, useState } from "react";
import type { TypedDocumentString } from "../gql/graphql";
import { auth, useAuth } from "./auth";
import { locale, useLocale } from "./i18n";

export class SessionExpired extends Error {
  constructor() {
    super("session expired");
  }
}

export class ApiError extends Error {}

/** Counted for the benchmark (window.__closedloopRequests). */
declare global {
  interface Window {
    __closedloopRequests?: number;
  }
}

export async function request<R, V>(doc: TypedDocumentString<R, V>, variables: V): Promise<R> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "Accept-Language": locale.get(),
  };
  const token = auth.token();
  if (token) headers["Authorization"] = `Bearer ${token}`;
  window.__closedloopRequests = (window.__closedloopRequests ?? 0) + 1;
  const res = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query: doc.toString(), variables }),
  });
  if (res.status === 401) {
    auth.expire();
    throw new SessionExpired();
  }
  const body = (await res.json()) as { data?: R; errors?: { message: string }[] };
  if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join("; "));
  if (!body.data) throw new ApiError(`HTTP ${res.status}`);
  return body.data;
}

export interface QueryState<R> {
  data: R | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs a query when its variables, the locale or the session change. */
export function useQuery<R, V>(
  doc: TypedDocumentString<R, V>,
  variables: V,
  skip = false,
): QueryState<R> {
  const [data, setData] = useState<R | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(!skip);
  const [tick, setTick] = useState(0);
  const lang = useLocale();
  const { session } = useAuth();
  const key = JSON.stringify(variables);
  const seq = useRef(0);
  useEffect(() => {
    if (skip || !session) return;
    const mine = ++seq.current;
    setLoading(true);
    request(doc, JSON.parse(key) as V).then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== seq.current || e instanceof SessionExpired) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
  }, [doc, key, lang, session, skip, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
