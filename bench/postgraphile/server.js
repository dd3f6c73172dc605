/*
 * PostGraphile v4 peer for the county pool page benchmark (issue 7), library mode on plain
 * node:http, loopback only.
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \
 *   CLOSEDLOOP_JWT_SECRET=... PORT=8003 node bench/postgraphile/server.js
 *
 * Equivalent scoping: it connects as `closedloop_app` (the URL's host, port and database;
 * the user is replaced by PG_USER, default closedloop_app), verifies the same HS256 bearer
 * token as the API (jsonwebtoken, same secret, audience and issuer), maps the token's `sub`
 * to the account's role/region/enterprise/board/department with one look-up per account
 * (cached), and hands them to PostGraphile as `pgSettings`: PostGraphile writes them with
 * set_config(..., true) at the start of each request's transaction, and the SAME
 * row-level-security policies as the API's scope the rows.
 *
 * What PostGraphile cannot do by itself: the `light` of an issue depends on the current time
 * and the running clock. It is added as a field computed in JavaScript from the columns
 * clock_kind/warn_at/due_at (makeExtendSchemaPlugin with @requires, fetched in the same
 * SQL statement), exactly as the API computes it in Python. No database object is created.
 *
 * For the harness: GET /metrics exposes `closedloop_sql_statements_total` (statements sent by
 * the pool's clients, BEGIN/COMMIT/ROLLBACK not counted, as the API counts them) and
 * `postgraphile_sql_all_total` (everything); GET /healthz answers ok.
 *
 * Benchmark settings: no GraphiQL, no watch mode, no query log, no mutations.
 */
"use strict";

const http = require("http");
const pg = require("pg");
const jwt = require("jsonwebtoken");
const { postgraphile, makeExtendSchemaPlugin, gql } = require("postgraphile");
const ConnectionFilterPlugin = require("postgraphile-plugin-connection-filter");
const PgSimplifyInflectorPlugin = require("@graphile-contrib/pg-simplify-inflector");

const DEV_JWT_SECRET = "closedloop-development-secret-change-me";
const SECRET = process.env.CLOSEDLOOP_JWT_SECRET || DEV_JWT_SECRET;
const AUDIENCE = process.env.CLOSEDLOOP_JWT_AUDIENCE || "closedloop";
const ISSUER = process.env.CLOSEDLOOP_JWT_ISSUER || "closedloop";
const PORT = Number(process.env.PORT || 8003);
const POOL_SIZE = Number(process.env.PG_POOL_SIZE || 16);
const PG_USER = process.env.PG_USER || "closedloop_app";

function appDatabaseUrl() {
  const url = new URL(process.env.DATABASE_URL.replace(/^postgres(ql)?(\+\w+)?:/, "postgres:"));
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new Error("the benchmark runs against a loopback database only");
  }
  url.username = PG_USER;
  url.password = "";
  return url.toString();
}

// --- counting statements, as closedloop_sql_statements_total does ----------------------------
let statements = 0;
let allStatements = 0;
const TX_CONTROL = /^\s*(begin|commit|rollback|start transaction|savepoint|release)\b/i;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(config, ...rest) {
  const text = typeof config === "string" ? config : config && config.text;
  allStatements += 1;
  if (!(typeof text === "string" && TX_CONTROL.test(text))) statements += 1;
  return originalQuery.call(this, config, ...rest);
};

const pool = new pg.Pool({
  connectionString: appDatabaseUrl(),
  max: POOL_SIZE,
  min: POOL_SIZE,
  idleTimeoutMillis: 0,
  application_name: "closedloop-postgraphile",
  options: "-c timezone=UTC",
});

// --- the caller: token -> account scope (cached per account) ---------------------------------
// The account as migration 0012's function answers it (row-level security hides the
// account table from the application's role), as the API looks it up.
const PRINCIPAL = `SELECT role, region_code, board_id, department_id, enterprise_id
  FROM closedloop_principal($1)`;
const scopes = new Map(); // username -> Promise<settings | null>

function scopeFor(username) {
  let hit = scopes.get(username);
  if (!hit) {
    hit = pool.query(PRINCIPAL, [username]).then(({ rows }) => {
      if (rows.length === 0) return null;
      const a = rows[0];
      return {
        "closedloop.role": a.role || "",
        "closedloop.region": a.region_code || "",
        "closedloop.enterprise": a.enterprise_id == null ? "" : String(a.enterprise_id),
        "closedloop.board": a.board_id == null ? "" : String(a.board_id),
        "closedloop.department": a.department_id == null ? "" : String(a.department_id),
      };
    });
    hit.catch(() => scopes.delete(username));
    scopes.set(username, hit);
  }
  return hit;
}

class Unauthorized extends Error {
  constructor(message) {
    super(message);
    this.status = 401;
  }
}

// No token: an empty scope (the policies then show no issue), like the API's anonymous caller.
const ANONYMOUS = {
  "closedloop.role": "",
  "closedloop.region": "",
  "closedloop.enterprise": "",
  "closedloop.board": "",
  "closedloop.department": "",
};

async function pgSettings(req) {
  const header = req.headers.authorization;
  if (!header) return ANONYMOUS;
  const [scheme, token] = header.split(" ");
  if (!scheme || scheme.toLowerCase() !== "bearer" || !token) {
    throw new Unauthorized("expected 'Authorization: Bearer <token>'");
  }
  let claims;
  try {
    claims = jwt.verify(token.trim(), SECRET, {
      algorithms: ["HS256"],
      audience: AUDIENCE,
      issuer: ISSUER,
    });
  } catch (err) {
    throw new Unauthorized(`token is invalid: ${err.message}`);
  }
  if (!claims.sub || !claims.exp) throw new Unauthorized("token is invalid");
  const settings = await scopeFor(String(claims.sub));
  if (!settings) throw new Unauthorized("unknown or inactive account");
  return settings;
}

// --- light: computed from the row, like closedloop.domain.sla.light -------------------------
const LightPlugin = makeExtendSchemaPlugin(() => ({
  typeDefs: gql`
    extend type Issue {
      """亮灯 / time-limit light, as of now (null when no clock runs)"""
      light: String @requires(columns: ["clock_kind", "warn_at", "due_at"])
    }
  `,
  resolvers: {
    Issue: {
      light(issue) {
        if (issue.clockKind == null || issue.warnAt == null || issue.dueAt == null) return null;
        const now = Date.now();
        if (now >= Date.parse(issue.dueAt)) return "RED";
        if (now >= Date.parse(issue.warnAt)) return "YELLOW";
        return "GREEN";
      },
    },
  },
}));

const middleware = postgraphile(pool, "public", {
  appendPlugins: [PgSimplifyInflectorPlugin, ConnectionFilterPlugin, LightPlugin],
  graphiql: false,
  enhanceGraphiql: false,
  watchPg: false,
  disableQueryLog: true,
  disableDefaultMutations: true,
  ignoreRBAC: false,
  ignoreIndexes: true, // the default: forward relations to board/department look up by their PK
  setofFunctionsContainNulls: false,
  legacyRelations: "omit",
  retryOnInitFail: false,
  graphileBuildOptions: {
    // equalTo/in: the pool page; isNull/lessThanOrEqualTo: the red light (a running clock
    // past its limit); includesInsensitive: the keyword (ILIKE, as closedloop's text filter)
    // of the mixed workload (bench/mixed_ops.py)
    connectionFilterAllowedOperators: [
      "equalTo",
      "in",
      "isNull",
      "lessThanOrEqualTo",
      "includesInsensitive",
    ],
    connectionFilterComputedColumns: false,
    connectionFilterSetofFunctions: false,
    connectionFilterRelations: false,
  },
  pgSettings,
  handleErrors(errors) {
    return errors.map((e) => ({ message: e.message }));
  },
});

const server = http.createServer((req, res) => {
  if (req.url === "/metrics") {
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    res.end(
      "# TYPE closedloop_sql_statements_total counter\n" +
        `closedloop_sql_statements_total ${statements}\n` +
        "# TYPE postgraphile_sql_all_total counter\n" +
        `postgraphile_sql_all_total ${allStatements}\n`,
    );
    return;
  }
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  middleware(req, res, (err) => {
    // PostGraphile hands pgSettings' errors to `next`.
    const status = (err && err.status) || (err ? 500 : 404);
    const message = err ? err.message : "not found";
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ errors: [{ message }] }));
  });
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`postgraphile (pid ${process.pid}) on http://127.0.0.1:${PORT}/graphql`);
});

function stop() {
  server.close();
  middleware.release().finally(() => pool.end().finally(() => process.exit(0)));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
