// The actions this viewer may take on an issue now (from `viewerActions`), each with its
// form; the API's typed errors are shown under the form that caused them.
import { useState } from "react";
import { graphql } from "../gql";
import type { IssueAction } from "../gql/graphql";
import { FORMS, runAction, type ActionError, type FieldSpec, type Values } from "../lib/actions";
import { SessionExpired, useQuery } from "../lib/api";
import { useFieldLabel, useWords } from "../lib/i18n";
import { useLabels } from "../lib/labels";

const ChoicesDoc = graphql(`
  query ActionChoices($code: String!) {
    region(code: $code) {
      code
      boards { id name }
      departments { id name }
      children { code name }
    }
  }
`);

export interface ActionIssue {
  id: string;
  version: number;
  viewerActions: IssueAction[];
  holdingRegion?: { code: string } | null;
}

function newKey(): string {
  return crypto.randomUUID();
}

export function ActionPanel({ issue, onDone, only }: { issue: ActionIssue; onDone: () => void; only?: IssueAction[] }) {
  const w = useWords();
  const { label } = useLabels();
  const [open, setOpen] = useState<IssueAction | null>(null);
  const actions = issue.viewerActions.filter((a) => !only || only.includes(a));
  if (!actions.length) return <p className="muted" data-testid="no-actions">{w.noActions}</p>;
  return (
    <div className="actions" data-testid="actions">
      <div className="buttons">
        {actions.map((a) => (
          <button
            key={a}
            type="button"
            data-action={a}
            className={open === a ? "primary" : ""}
            onClick={() => setOpen(open === a ? null : a)}
          >
            {label("IssueAction", a)}
          </button>
        ))}
      </div>
      {actions.map((a) => (
        // Every form stays mounted (hidden when closed): what was typed survives.
        <ActionForm key={a} action={a} issue={issue} hidden={open !== a} onDone={() => { setOpen(null); onDone(); }} />
      ))}
    </div>
  );
}

function ActionForm({ action, issue, hidden, onDone }: { action: IssueAction; issue: ActionIssue; hidden: boolean; onDone: () => void }) {
  const w = useWords();
  const { label } = useLabels();
  const [values, setValues] = useState<Values>({});
  const [errors, setErrors] = useState<ActionError[]>([]);
  const [busy, setBusy] = useState(false);
  // One idempotency key per attempt at this form: a retried request never acts twice.
  const [key, setKey] = useState(newKey);
  const fields = FORMS[action];
  const submit = async () => {
    setBusy(true);
    try {
      const errs = await runAction(action, issue, values, key);
      setErrors(errs);
      if (!errs.length) {
        setValues({});
        setKey(newKey());
        onDone();
      }
    } catch (e) {
      if (!(e instanceof SessionExpired)) {
        setErrors([{ code: "ERROR", message: e instanceof Error ? e.message : String(e), field: null }]);
      }
    } finally {
      setBusy(false);
    }
  };
  if (hidden) return null;
  return (
    <form
      className="action-form"
      data-form={action}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {fields.map((f) => (
        <Field key={f.name} spec={f} issue={issue} value={values[f.name]} error={errors.find((x) => x.field === f.name)} onChange={(v) => setValues({ ...values, [f.name]: v })} />
      ))}
      {errors.filter((x) => !fields.some((f) => f.name === x.field)).map((x) => (
        <p key={x.code + x.message} className="error" data-testid="action-error" data-code={x.code}>{x.message}</p>
      ))}
      <button type="submit" className="primary" disabled={busy} data-submit={action}>
        {label("IssueAction", action)}
      </button>
      {busy && <span className="muted"> {w.loading}</span>}
    </form>
  );
}

function Field({ spec, issue, value, error, onChange }: {
  spec: FieldSpec;
  issue: ActionIssue;
  value: string | boolean | undefined;
  error: ActionError | undefined;
  onChange: (v: string | boolean) => void;
}) {
  const fieldLabel = useFieldLabel();
  const w = useWords();
  const { options } = useLabels();
  const needsRegion = spec.choices && "from" in spec.choices;
  const choices = useQuery(ChoicesDoc, { code: issue.holdingRegion?.code ?? "" }, !needsRegion || !issue.holdingRegion);
  const text = typeof value === "string" ? value : "";
  let input;
  if (spec.kind === "checkbox") {
    input = <input type="checkbox" name={spec.name} checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
  } else if (spec.kind === "select") {
    let opts: { value: string; label: string }[] = [];
    const c = spec.choices;
    if (c && "enum" in c) opts = options(c.enum).filter((o) => !c.only || c.only.includes(o.value));
    else if (c && "from" in c) {
      const r = choices.data?.region;
      if (c.from === "boards") opts = (r?.boards ?? []).map((b) => ({ value: b.id, label: b.name }));
      if (c.from === "departments") opts = (r?.departments ?? []).map((d) => ({ value: d.id, label: d.name }));
      if (c.from === "childRegions") opts = (r?.children ?? []).map((x) => ({ value: x.code, label: x.name }));
    }
    input = (
      <select name={spec.name} value={text} onChange={(e) => onChange(e.target.value)}>
        <option value="">{w.choose}</option>
        {opts.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    );
  } else if (spec.kind === "textarea") {
    input = <textarea name={spec.name} value={text} rows={2} onChange={(e) => onChange(e.target.value)} />;
  } else {
    const type = spec.kind === "date" ? "date" : spec.kind === "datetime" ? "datetime-local" : "text";
    input = <input type={type} name={spec.name} value={text} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <label className={error ? "field invalid" : "field"}>
      <span>{fieldLabel(spec.name)}{spec.required ? " *" : ""}</span>
      {input}
      {error && <span className="error" data-testid="action-error" data-code={error.code}>{error.message}</span>}
    </label>
  );
}
