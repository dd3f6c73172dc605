// 工作台: the pool with lights and filters, an issue's full timeline and custody ledger, and
// the actions this viewer may take on it now.
import { useEffect, useState } from "react";
import { ActionPanel } from "../components/ActionPanel";
import { graphql } from "../gql";
import type { IssueFilterInput, Light } from "../gql/graphql";
import { useQuery } from "../lib/api";
import { formatDateTime, formatDuration, useLocale, useWords } from "../lib/i18n";
import { useLabels } from "../lib/labels";
import { navigate } from "../lib/router";

const PoolDoc = graphql(`
  query Pool($filter: IssueFilterInput, $after: String) {
    issues(filter: $filter, first: 20, after: $after, orderBy: DUE_AT_ASC) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        id number title stateLabel light dueAt
        holdingRegion { name }
        enterprise { name }
      }
    }
  }
`);

const DetailDoc = graphql(`
  query WorkbenchIssue($id: ID!) {
    issue(id: $id) {
      id number title content state stateLabel light dueAt version handlingLevelLabel
      category tags reply viewerActions
      holdingRegion { code name }
      originRegion { name }
      enterprise { name }
      board { name }
      department { name }
      timeline { id typeLabel occurredAt actorName message public }
      custody { handlingLevel startedAt endedAt heldSeconds overdueSeconds region { name } board { name } department { name } }
    }
  }
`);

const LIGHTS: Light[] = ["GREEN", "YELLOW", "RED"];

export function Workbench({ issueId }: { issueId: string | null }) {
  const w = useWords();
  const { label } = useLabels();
  const [pool, setPool] = useState(true);
  const [light, setLight] = useState<Light | "">("");
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  const filter: IssueFilterInput = { pool, light: light || null, text: search || null };
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [tick, setTick] = useState(0);
  const filterKey = JSON.stringify(filter);
  useEffect(() => setCursors([null]), [filterKey]);
  return (
    <div className="workbench">
      <section className="card pool">
        <h2>{w.pool}</h2>
        <form className="filters" onSubmit={(e) => { e.preventDefault(); setSearch(text); }}>
          <label><input type="checkbox" checked={pool} onChange={(e) => setPool(e.target.checked)} /> {w.onlyPool}</label>
          <select value={light} onChange={(e) => setLight(e.target.value as Light | "")} data-testid="light-filter">
            <option value="">{w.allLights}</option>
            {LIGHTS.map((l) => <option key={l} value={l}>{label("Light", l)}</option>)}
          </select>
          <input placeholder={w.search} value={text} onChange={(e) => setText(e.target.value)} />
        </form>
        {cursors.map((after, i) => (
          <PoolPage
            key={`${filterKey}:${after ?? ""}`}
            filter={filter}
            after={after}
            selected={issueId}
            tick={tick}
            first={i === 0}
            onMore={i === cursors.length - 1 ? (next) => setCursors([...cursors, next]) : null}
          />
        ))}
      </section>
      <section className="card detail">
        {issueId ? <Detail id={issueId} onChange={() => setTick((t) => t + 1)} /> : <p className="muted">{w.select}</p>}
      </section>
    </div>
  );
}

function PoolPage({ filter, after, selected, tick, first, onMore }: {
  filter: IssueFilterInput;
  after: string | null;
  selected: string | null;
  tick: number;
  first: boolean;
  onMore: ((cursor: string) => void) | null;
}) {
  const w = useWords();
  const q = useQuery(PoolDoc, { filter, after });
  const reload = q.reload;
  useEffect(() => {
    if (tick) reload();
  }, [tick, reload]);
  const page = q.data?.issues;
  return (
    <>
      {first && page && <p className="muted small" data-testid="pool-count">{page.totalCount}</p>}
      {q.error && <p className="error">{q.error}</p>}
      <ul className="plain pool-list">
        {page?.nodes.map((i) => (
          <li key={i.id} className={i.id === selected ? "selected" : ""}>
            <a href={`/workbench/${encodeURIComponent(i.id)}`} data-pool-issue={i.id} onClick={(e) => { e.preventDefault(); navigate(`/workbench/${encodeURIComponent(i.id)}`); }}>
              <span>
                {i.light && <span className={`light ${i.light.toLowerCase()}`} data-light={i.light} />}
                <strong>{i.title}</strong>
              </span>
              <span className="muted small">{i.number} · {i.stateLabel} · {i.holdingRegion?.name} · {i.enterprise?.name}</span>
            </a>
          </li>
        ))}
      </ul>
      {onMore && page?.pageInfo.hasNextPage && page.pageInfo.endCursor && (
        <button type="button" data-testid="more" onClick={() => onMore(page.pageInfo.endCursor!)}>{w.more}</button>
      )}
    </>
  );
}

function Detail({ id, onChange }: { id: string; onChange: () => void }) {
  const w = useWords();
  const { label } = useLabels();
  const lang = useLocale();
  const q = useQuery(DetailDoc, { id });
  const i = q.data?.issue;
  if (q.error) return <p className="error">{q.error}</p>;
  if (!q.data) return <p>{w.loading}</p>;
  if (!i) return <p data-testid="not-found">{w.notFound}</p>;
  return (
    <div data-testid="issue-detail" data-issue={i.id} data-state={i.state} data-version={i.version}>
      <h2>
        {i.light && <span className={`light ${i.light.toLowerCase()}`} data-light={i.light} />} {i.title}
      </h2>
      <p className="muted">
        {i.number} · <span data-testid="state">{i.stateLabel}</span> · {i.handlingLevelLabel} · {i.holdingRegion?.name}
        {i.board ? ` · ${i.board.name}` : ""}{i.department ? ` · ${i.department.name}` : ""}
        {i.dueAt ? ` · ${w.due} ${formatDateTime(i.dueAt, lang)}` : ""}
      </p>
      <p>{i.content}</p>
      {i.reply && <p className="reply">{i.reply}</p>}
      <h3>{w.actions}</h3>
      <ActionPanel key={`${i.id}:${i.version}`} issue={i} onDone={() => { q.reload(); onChange(); }} />
      <h3>{w.timeline}</h3>
      <ol className="timeline" data-testid="timeline">
        {[...i.timeline].reverse().map((e) => (
          <li key={e.id} className={e.public ? "" : "internal"}>
            <time>{formatDateTime(e.occurredAt, lang)}</time> <strong>{e.typeLabel}</strong>{" "}
            <span className="muted">{e.actorName}</span>
            {e.message && <div>{e.message}</div>}
          </li>
        ))}
      </ol>
      <h3>{w.custody}</h3>
      <table data-testid="custody">
        <thead><tr><th>{w.holder}</th><th>{w.level}</th><th>{w.held}</th><th>{w.overdue}</th></tr></thead>
        <tbody>
          {i.custody.map((c) => (
            <tr key={c.startedAt + c.handlingLevel}>
              <td>{[c.region?.name, c.board?.name, c.department?.name].filter(Boolean).join(" · ")}</td>
              <td>{label("HandlingLevel", c.handlingLevel)}</td>
              <td>{formatDuration(c.heldSeconds, w)}</td>
              <td className={c.overdueSeconds > 0 ? "late" : ""}>{c.overdueSeconds > 0 ? formatDuration(c.overdueSeconds, w) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
