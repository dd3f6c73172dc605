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

const root = document.getElementById("graphiql");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <GraphiQL
        fetcher={fetcher}
        defaultHeaders={'{"Authorization": "Bearer <token from: closedloop token deqing.center>"}'}
        defaultQuery={"{\n  viewer {\n    username\n    roleLabel\n    region { code name }\n  }\n}\n"}
      />
    </StrictMode>,
  );
}
