// 企业问题追踪: submit, the parcel-style public timeline, countdown and light, urge, rate, reopen.
import { useEffect, useRef, useState } from "react";
import { ActionPanel } from "../components/ActionPanel";
import { graphql } from "../gql";
import type { Category, TrackIssueFragment } from "../gql/graphql";
import { request, SessionExpired, useQuery } from "../lib/api";
import { formatDateTime, formatDuration, useLocale, useWords } from "../lib/i18n";
import { useLabels } from "../lib/labels";
import { subscribe } from "../lib/live";

graphql(`
  fragment TrackIssue on Issue {
    id number title state stateLabel light dueAt createdAt resolvedAt reply rating
    nextUrgeAllowedAt urgeCount version viewerActions
    holdingRegion { code name }
    timeline { id typeLabel occurredAt actorName message }
  }
`);

const TrackDoc = graphql(`
  query Track($after: String) {
    viewer { displayName role }
    issues(first: 10, after: $after, orderBy: CREATED_AT_DESC) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...TrackIssue }
    }
  }
`);

const SubmitDoc = graphql(`
  mutation TrackSubmit($input: SubmitIssueInput!) {
    submitIssue(input: $input) { issue { id number } errors { code message field } }
  }
`);

function useNow(ms = 30_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

const LiveDoc = `subscription TrackLive { issueEvents { event { id } } }`;

export function Track() {
  const w = useWords();
  const q = useQuery(TrackDoc, { after: null });
  // The enterprise's own issues' public events arrive live (the parcel-tracking view).
  const reload = useRef(q.reload);
  reload.current = q.reload;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = subscribe(LiveDoc, {}, {
      next: () => {
        clearTimeout(timer);
        timer = setTimeout(() => reload.current(), 150);
      },
      status: () => undefined,
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, []);
  return (
    <div className="track">
      <SubmitForm onDone={q.reload} />
      <section className="card">
        <h2>{w.myIssues} {q.data && <span className="muted">{q.data.issues.totalCount}</span>}</h2>
        {q.error && <p className="error">{q.error}</p>}
        {q.loading && !q.data && <p>{w.loading}</p>}
        <ul className="issues plain">
          {q.data?.issues.nodes.map((i) => <TrackCard key={i.id} issue={i} onChange={q.reload} />)}
        </ul>
      </section>
    </div>
  );
}

function SubmitForm({ onDone }: { onDone: () => void }) {
  const w = useWords();
  const { options } = useLabels();
  const [title, setTitle] = useState("");
  const [content, setContent] = useState("");
  const [category, setCategory] = useState("");
  const [errors, setErrors] = useState<{ code: string; message: string; field?: string | null }[]>([]);
  const [key, setKey] = useState(() => crypto.randomUUID());
  const [busy, setBusy] = useState(false);
  const fieldError = (f: string) => errors.find((e) => e.field === f);
  const submit = async () => {
    setBusy(true);
    try {
      const r = await request(SubmitDoc, {
        input: { title, content, category: (category || null) as Category | null, idempotencyKey: key },
      });
      setErrors(r.submitIssue.errors);
      if (!r.submitIssue.errors.length) {
        setTitle("");
        setContent("");
        setCategory("");
        setKey(crypto.randomUUID());
        onDone();
      }
    } catch (e) {
      if (!(e instanceof SessionExpired)) setErrors([{ code: "ERROR", message: String(e) }]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card submit" data-testid="submit-form" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <h2>{w.submitIssue}</h2>
      <label className={fieldError("title") ? "field invalid" : "field"}>
        <span>{w.title} *</span>
        <input name="title" value={title} onChange={(e) => setTitle(e.target.value)} />
        {fieldError("title") && <span className="error" data-testid="field-error">{fieldError("title")?.message}</span>}
      </label>
      <label className={fieldError("content") ? "field invalid" : "field"}>
        <span>{w.content} *</span>
        <textarea name="content" rows={3} value={content} onChange={(e) => setContent(e.target.value)} />
        {fieldError("content") && <span className="error" data-testid="field-error">{fieldError("content")?.message}</span>}
      </label>
      <label className="field">
        <span>{w.category}</span>
        <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
          <option value="">{w.choose}</option>
          {options("Category").map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
        </select>
      </label>
      {errors.filter((e) => e.field !== "title" && e.field !== "content").map((e) => (
        <p key={e.code} className="error" data-testid="field-error">{e.message}</p>
      ))}
      <button type="submit" className="primary" disabled={busy}>{w.submit}</button>
    </form>
  );
}

function Countdown({ dueAt }: { dueAt: string }) {
  const w = useWords();
  const now = useNow();
  const left = (new Date(dueAt).getTime() - now) / 1000;
  return (
    <span className={left < 0 ? "countdown late" : "countdown"} data-testid="countdown">
      {left < 0 ? `${w.overdueBy} ${formatDuration(left, w)}` : `${w.remaining} ${formatDuration(left, w)}`}
    </span>
  );
}

const OPEN = ["SUBMITTED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "REOPENED"];

function TrackCard({ issue, onChange }: { issue: TrackIssueFragment; onChange: () => void }) {
  const w = useWords();
  const lang = useLocale();
  const { label } = useLabels();
  const now = useNow(5_000);
  const urgeWait = issue.nextUrgeAllowedAt && new Date(issue.nextUrgeAllowedAt).getTime() > now;
  const open = OPEN.includes(issue.state);
  return (
    <li className="card issue" data-issue={issue.id} data-state={issue.state}>
      <div className="issue-head">
        {issue.light && <span className={`light ${issue.light.toLowerCase()}`} title={label("Light", issue.light)} data-light={issue.light} />}
        <strong>{issue.title}</strong>
        <span className="muted">{issue.number}</span>
        <span className="state" data-testid="state">{issue.stateLabel}</span>
        {open && issue.dueAt && <Countdown dueAt={issue.dueAt} />}
      </div>
      {issue.reply && <p className="reply">{issue.reply}</p>}
      <ol className="timeline" data-testid="timeline">
        {[...issue.timeline].reverse().map((e) => (
          <li key={e.id}>
            <time>{formatDateTime(e.occurredAt, lang)}</time>
            <strong>{e.typeLabel}</strong> <span className="muted">{e.actorName}</span>
            {e.message && <div>{e.message}</div>}
          </li>
        ))}
      </ol>
      {open && !issue.viewerActions.includes("URGE") && urgeWait && (
        <div className="buttons">
          <button type="button" disabled data-action="URGE" data-testid="urge-disabled">
            {label("IssueAction", "URGE")}
          </button>
          <span className="muted" data-testid="urge-again">{w.urgeAgainAt}{formatDateTime(issue.nextUrgeAllowedAt, lang)}</span>
        </div>
      )}
      <ActionPanel issue={issue} onDone={onChange} only={["URGE", "RATE", "REOPEN"]} />
    </li>
  );
}
