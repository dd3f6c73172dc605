// 驾驶舱: the signed-in tier's figures for a period, drill-down to child regions, live.
import { useEffect, useMemo, useRef, useState } from "react";
import { Chart, type ChartOption } from "../components/Chart";
import { graphql } from "../gql";
import type { CockpitQuery } from "../gql/graphql";
import { useQuery } from "../lib/api";
import { useWords } from "../lib/i18n";
import { subscribe } from "../lib/live";
import { navigate } from "../lib/router";

export const CockpitViewerDoc = graphql(`
  query CockpitViewer {
    viewer { username displayName roleLabel region { code name level } }
  }
`);

export const CockpitDoc = graphql(`
  query Cockpit($region: String!, $period: String!) {
    dashboard(region: $region, period: $period) {
      region { code name level levelLabel parentCode }
      period { label }
      asOf
      totals { ...CockpitFigures }
      byTier { tier label figures { total open } }
      byState { state label count }
      children { region { code name } figures { ...CockpitFigures } }
      topTags { tag count }
      redList { id reason listedOn target { name } }
      blackList { id reason listedOn target { name } }
      redCount
      blackCount
      problemLists {
        total
        byState { state stateLabel count }
        latest { id stateLabel reference pushedAt region { name } issue { number title } }
      }
      trend { month figures { resolutionRate satisfactionRate overdueRate recurrenceRate proactiveRate } }
    }
    regionScores: scores(targetKind: REGION, region: $region, period: $period) {
      entries { rank total target { key name } }
    }
    departmentScores: scores(targetKind: DEPARTMENT, region: $region, period: $period) {
      entries { rank total target { key name } }
    }
  }
  fragment CockpitFigures on DashboardFigures {
    total open resolved yellowLights redLights
    resolutionRate satisfactionRate overdueRate recurrenceRate proactiveRate
  }
`);

const LiveDoc = `subscription CockpitLive { issueEvents { event { id type occurredAt } } }`;

type Dash = NonNullable<CockpitQuery["dashboard"]>;
type Figures = Dash["totals"];
type RateKey = "resolutionRate" | "satisfactionRate" | "overdueRate" | "recurrenceRate" | "proactiveRate";
const RATES: RateKey[] = ["resolutionRate", "satisfactionRate", "overdueRate", "recurrenceRate", "proactiveRate"];

function pct(v: string | null | undefined): string {
  return v == null ? "—" : `${Number(v).toFixed(1)}%`;
}

function defaultPeriod(): string {
  return String(new Date().getFullYear());
}

export function Cockpit({ code }: { code: string | null }) {
  const w = useWords();
  const viewer = useQuery(CockpitViewerDoc, {});
  const home = viewer.data?.viewer.region?.code ?? null;
  const region = code ?? home;
  const [period, setPeriod] = useState(defaultPeriod);
  const dash = useQuery(CockpitDoc, { region: region ?? "", period }, !region);
  const [live, setLive] = useState(false);
  const [lastEvent, setLastEvent] = useState<string | null>(null);
  const reload = useRef(dash.reload);
  reload.current = dash.reload;

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = subscribe<{ issueEvents: { event: { occurredAt: string } } }>(LiveDoc, {}, {
      next: (d) => {
        setLastEvent(d.issueEvents.event.occurredAt);
        clearTimeout(timer);
        timer = setTimeout(() => reload.current(), 150);
      },
      status: setLive,
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, []);

  if (viewer.error) return <p className="error">{viewer.error}</p>;
  if (viewer.data && !home && !code) return <NotFound />;
  const d = dash.data?.dashboard;
  return (
    <div className="cockpit" data-testid="cockpit" data-region={region ?? ""}>
      <div className="toolbar">
        {d && region !== home && home && (
          <button
            type="button"
            data-testid="drill-up"
            onClick={() => {
              const parent = d.region.parentCode;
              navigate(parent && home && parent.startsWith(home) ? `/cockpit/${parent}` : "/cockpit");
            }}
          >
            ← {w.back}
          </button>
        )}
        <h1 data-testid="region-name">
          {d ? `${d.region.name} · ${d.region.levelLabel}` : dash.loading || viewer.loading ? w.loading : ""}
        </h1>
        <label className="period">
          {w.period}{" "}
          <select value={period} onChange={(e) => setPeriod(e.target.value)} data-testid="period">
            {periodChoices().map((p) => (
              <option key={p} value={p}>{p}</option>
            ))}
          </select>
        </label>
        <span className={live ? "badge live" : "badge"} data-testid="live" data-live={live ? "true" : "false"}>
          ● {live ? w.live : w.offline}
        </span>
        {lastEvent && <span className="muted small">{w.lastEvent} {new Date(lastEvent).toLocaleTimeString()}</span>}
      </div>
      {dash.error && <p className="error">{dash.error}</p>}
      {dash.data && !d && <NotFound />}
      {d && <Board d={d} data={dash.data!} />}
    </div>
  );
}

function periodChoices(): string[] {
  const now = new Date();
  const y = now.getFullYear();
  const q = Math.floor(now.getMonth() / 3) + 1;
  const m = String(now.getMonth() + 1).padStart(2, "0");
  return [String(y), `${y}-Q${q}`, `${y}-${m}`, String(y - 1)];
}

function NotFound() {
  const w = useWords();
  return (
    <div className="card" data-testid="not-found">
      <h2>{w.notFound}</h2>
      <p>{w.notFoundRegion}</p>
      <button type="button" onClick={() => navigate("/cockpit")}>← {w.back}</button>
    </div>
  );
}

function Kpi({ label, value, figure, tone }: { label: string; value: string | number; figure: string; tone?: string }) {
  return (
    <div className={`kpi ${tone ?? ""}`}>
      <span className="muted">{label}</span>
      <strong data-figure={figure}>{value}</strong>
    </div>
  );
}

function Board({ d, data }: { d: Dash; data: CockpitQuery }) {
  const w = useWords();
  const t: Figures = d.totals;
  const count = (...states: string[]) =>
    d.byState.filter((s) => states.includes(s.state)).reduce((n, s) => n + s.count, 0);

  const tierOption = useMemo<ChartOption>(() => ({
    grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
    tooltip: {},
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: d.byTier.map((r) => r.label), inverse: true },
    series: [{ type: "bar", data: d.byTier.map((r) => r.figures.open), name: w.open, itemStyle: { color: "#1f6feb" } }],
  }), [d, w]);

  const funnel = [
    [w.stageIntake, t.total],
    [w.stageTriage, count("SUBMITTED", "ACCEPTED", "REOPENED")],
    [w.stageHandling, count("ASSIGNED", "IN_PROGRESS")],
    [w.stageResolved, count("RESOLVED")],
    [w.stageClosed, count("CLOSED")],
  ] as const;
  const funnelOption = useMemo<ChartOption>(() => ({
    tooltip: {},
    series: [{
      type: "funnel", sort: "none", left: 8, right: 8, top: 8, bottom: 8, minSize: "10%",
      label: { position: "inside", formatter: "{b} {c}", color: "#fff" },
      data: funnel.map(([name, value]) => ({ name, value })),
    }],
  }), [d, w]); // eslint-disable-line react-hooks/exhaustive-deps

  const trendOption = useMemo<ChartOption>(() => ({
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis" },
    legend: { top: 0, type: "scroll" },
    xAxis: { type: "category", data: d.trend.map((p) => p.month.slice(2)) },
    yAxis: { type: "value", max: 100 },
    series: RATES.map((k) => ({
      type: "line", name: w[k], connectNulls: true,
      data: d.trend.map((p) => (p.figures[k] == null ? null : Number(p.figures[k]))),
    })),
  }), [d, w]);

  const tagOption = useMemo<ChartOption>(() => ({
    grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
    tooltip: {},
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: d.topTags.map((x) => x.tag.split("›").pop()), axisLabel: { width: 110, overflow: "truncate" } },
    series: [{ type: "bar", data: d.topTags.map((x) => x.count), itemStyle: { color: "#d4533b" } }],
  }), [d]);

  return (
    <div className="grid">
      <section className="card wide" data-testid="totals">
        <div className="kpis">
          <Kpi label={w.total} value={t.total} figure="totals.total" />
          <Kpi label={w.open} value={t.open} figure="totals.open" />
          <Kpi label={w.resolved} value={t.resolved} figure="totals.resolved" />
          <Kpi label={w.yellow} value={t.yellowLights} figure="totals.yellowLights" tone="yellow" />
          <Kpi label={w.red} value={t.redLights} figure="totals.redLights" tone="red" />
        </div>
      </section>
      <section className="card">
        <h3>{w.heldPerTier}</h3>
        <ul className="plain" data-testid="by-tier">
          {d.byTier.map((r) => (
            <li key={r.tier}><span>{r.label}</span><strong data-figure={`byTier.${r.tier}.open`}>{r.figures.open}</strong></li>
          ))}
        </ul>
        <div className="hide-phone"><Chart name="tiers" option={tierOption} height={150} /></div>
      </section>
      <section className="card">
        <h3>{w.funnel}</h3>
        <Chart name="funnel" option={funnelOption} />
      </section>
      <section className="card">
        <h3>{w.keyRates}</h3>
        <div className="kpis">
          {RATES.map((k) => (
            <Kpi key={k} label={w[k]} value={pct(t[k])} figure={`totals.${k}`} />
          ))}
        </div>
        <Chart name="trend" option={trendOption} height={200} />
      </section>
      {d.children.length > 0 && (
        <section className="card">
          <h3>{w.childRanking}</h3>
          <table data-testid="children" className="ranked">
            <thead><tr><th>{w.rank}</th><th></th><th>{w.score}</th><th>{w.total}</th><th>{w.open}</th><th>{w.resolutionRate}</th></tr></thead>
            <tbody>
              {childRows(d, data).map((r) => (
                <tr key={r.code} data-child={r.code}>
                  <td>{r.rank ?? "—"}</td>
                  <td>
                    <a href={`/cockpit/${r.code}`} data-drill={r.code} onClick={(e) => { e.preventDefault(); navigate(`/cockpit/${r.code}`); }}>{r.name}</a>
                  </td>
                  <td>{r.score ?? "—"}</td>
                  <td data-figure={`children.${r.code}.total`}>{r.figures.total}</td>
                  <td data-figure={`children.${r.code}.open`}>{r.figures.open}</td>
                  <td data-figure={`children.${r.code}.resolutionRate`}>{pct(r.figures.resolutionRate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section className="card">
        <h3>{w.deptRanking}</h3>
        <Ranking entries={data.departmentScores?.entries ?? []} testid="departments" />
      </section>
      <section className="card">
        <h3>{w.topTags}</h3>
        {d.topTags.length ? <Chart name="tags" option={tagOption} height={Math.max(120, d.topTags.length * 26)} /> : <p className="muted">{w.none}</p>}
      </section>
      <section className="card">
        <h3>{w.redList} <span className="muted" data-figure="redCount">{d.redCount}</span></h3>
        <ListEntries entries={d.redList} />
        <h3>{w.blackList} <span className="muted" data-figure="blackCount">{d.blackCount}</span></h3>
        <ListEntries entries={d.blackList} />
      </section>
      <section className="card" data-testid="problem-lists">
        <h3>{w.problemLists} <span className="muted" data-figure="problemLists">{d.problemLists.total}</span></h3>
        <ProblemLists summary={d.problemLists} />
      </section>
    </div>
  );
}

function childRows(d: Dash, data: CockpitQuery) {
  const scores = new Map((data.regionScores?.entries ?? []).map((e) => [e.target.key, e]));
  return d.children
    .map((c) => {
      const s = scores.get(c.region.code);
      return { code: c.region.code, name: c.region.name, figures: c.figures, rank: s?.rank ?? null, score: s ? Number(s.total).toFixed(1) : null };
    })
    .sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || b.figures.total - a.figures.total);
}

function Ranking({ entries, testid }: { entries: { rank: number; total: string; target: { key: string; name: string } }[]; testid: string }) {
  const w = useWords();
  if (!entries.length) return <p className="muted">{w.none}</p>;
  return (
    <ol className="ranking" data-testid={testid}>
      {entries.slice(0, 16).map((e) => (
        <li key={e.target.key}>
          <span className="rank">{e.rank}</span>
          <span className="name">{e.target.name}</span>
          <strong>{Number(e.total).toFixed(1)}</strong>
        </li>
      ))}
    </ol>
  );
}

function ListEntries({ entries }: { entries: { id: string; reason: string; listedOn: string; target: { name: string } }[] }) {
  const w = useWords();
  if (!entries.length) return <p className="muted">{w.none}</p>;
  return (
    <ul className="plain entries">
      {entries.slice(0, 10).map((e) => (
        <li key={e.id}><strong>{e.target.name}</strong> <span className="muted">{e.listedOn}</span><br />{e.reason}</li>
      ))}
    </ul>
  );
}

// 七张问题清单: what the region's tiers pushed in the period, and what the applications reported.
function ProblemLists({ summary }: { summary: Dash["problemLists"] }) {
  const w = useWords();
  if (!summary.total) return <p className="muted">{w.none}</p>;
  return (
    <>
      <p>
        {summary.byState.filter((s) => s.count > 0).map((s) => (
          <span key={s.state} className="muted">{s.stateLabel} <span data-figure={`problemLists.${s.state}`}>{s.count}</span>　</span>
        ))}
      </p>
      <ul className="plain entries">
        {summary.latest.map((p) => (
          <li key={p.id}>
            <strong>{p.issue?.number ?? ""}</strong> {p.issue?.title ?? ""}
            <br />
            <span className="muted">{p.region?.name} · {p.stateLabel}{p.reference ? ` · ${w.receipt} ${p.reference}` : ""}</span>
          </li>
        ))}
      </ul>
    </>
  );
}
