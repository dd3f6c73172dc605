// GraphiQL bundled into the package: no CDN, so it works on an intranet or offline.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

const wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  subscriptionUrl: `${wsScheme}//${location.host}/graphql`,
});

const DEFAULT_QUERY = `# Sign in: put a token in Headers, e.g.
#   {"Authorization": "Bearer <token>"}
# (a development token: closedloop token deqing.center)
{
  viewer {
    isAnonymous
    username
    roleLabel
    region { code name }
  }
}
`;

const root = document.getElementById("graphiql");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <GraphiQL fetcher={fetcher} defaultQuery={DEFAULT_QUERY} />
    </StrictMode>,
  );
}
