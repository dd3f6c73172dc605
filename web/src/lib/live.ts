// issueEvents over graphql-transport-ws; the token travels in connection_init.
import { createClient, type Client } from "graphql-ws";
import { auth } from "./auth";

let client: Client | null = null;
let clientToken: string | null = null;

function wsClient(): Client {
  const token = auth.token();
  if (client && clientToken === token) return client;
  client?.dispose();
  clientToken = token;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  client = createClient({
    url: `${scheme}//${location.host}/graphql`,
    connectionParams: () => (token ? { Authorization: `Bearer ${token}` } : {}),
    retryAttempts: 20,
    shouldRetry: () => true,
  });
  return client;
}

export interface LiveHandlers<T> {
  next: (data: T) => void;
  status: (connected: boolean) => void;
}

export function subscribe<T>(query: string, variables: Record<string, unknown>, h: LiveHandlers<T>): () => void {
  const c = wsClient();
  const offConnected = c.on("connected", () => h.status(true));
  const offClosed = c.on("closed", () => h.status(false));
  const stop = c.subscribe<T>(
    { query, variables },
    {
      next: (msg) => {
        if (msg.data) h.next(msg.data);
      },
      error: () => h.status(false),
      complete: () => h.status(false),
    },
  );
  return () => {
    stop();
    offConnected();
    offClosed();
  };
}
