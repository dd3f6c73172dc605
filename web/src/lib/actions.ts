// Every command a page can send on an issue, typed from the schema. The pages show only the
// actions the API lists in `viewerActions` (state machine ∩ policy, for this viewer, now).
import { graphql } from "../gql";
import type {
  Category,
  HandlingLevel,
  IssueAction,
  RatingGrade,
} from "../gql/graphql";
import { request } from "./api";

graphql(`
  fragment ActionResult on IssuePayload {
    issue { id version state }
    errors { code message field }
  }
`);

const Accept = graphql(`mutation Accept($input: AcceptIssueInput!) { acceptIssue(input: $input) { ...ActionResult } }`);
const Reject = graphql(`mutation Reject($input: RejectIssueInput!) { rejectIssue(input: $input) { ...ActionResult } }`);
const Triage = graphql(`mutation Triage($input: TriageIssueInput!) { triageIssue(input: $input) { ...ActionResult } }`);
const Assign = graphql(`mutation Assign($input: AssignIssueInput!) { assignIssue(input: $input) { ...ActionResult } }`);
const Start = graphql(`mutation Start($input: StartIssueInput!) { startIssue(input: $input) { ...ActionResult } }`);
const Note = graphql(`mutation Note($input: AddIssueNoteInput!) { addIssueNote(input: $input) { ...ActionResult } }`);
const HandBack = graphql(`mutation HandBack($input: HandBackIssueInput!) { handBackIssue(input: $input) { ...ActionResult } }`);
const Resolve = graphql(`mutation Resolve($input: ResolveIssueInput!) { resolveIssue(input: $input) { ...ActionResult } }`);
const Rate = graphql(`mutation Rate($input: RateIssueInput!) { rateIssue(input: $input) { ...ActionResult } }`);
const Urge = graphql(`mutation Urge($input: UrgeIssueInput!) { urgeIssue(input: $input) { ...ActionResult } }`);
const Reopen = graphql(`mutation Reopen($input: ReopenIssueInput!) { reopenIssue(input: $input) { ...ActionResult } }`);
const Merge = graphql(`mutation Merge($input: MergeIssuesInput!) { mergeIssues(input: $input) { ...ActionResult } }`);
const Escalate = graphql(`mutation Escalate($input: EscalateIssueInput!) { escalateIssue(input: $input) { ...ActionResult } }`);
const Delegate = graphql(`mutation Delegate($input: DelegateIssueInput!) { delegateIssue(input: $input) { ...ActionResult } }`);
const Return = graphql(`mutation Return($input: ReturnIssueInput!) { returnIssue(input: $input) { ...ActionResult } }`);
const Coordinate = graphql(`mutation Coordinate($input: CoordinateIssueInput!) { coordinateIssue(input: $input) { ...ActionResult } }`);
const Meeting = graphql(`mutation Meeting($input: RecordMeetingDecisionInput!) { recordMeetingDecision(input: $input) { ...ActionResult } }`);
const VersionOf = graphql(`query VersionOf($id: ID!) { issue(id: $id) { id version } }`);

export type FieldKind = "text" | "textarea" | "checkbox" | "date" | "datetime" | "select";

/** Where a select's choices come from: an enum's labels, or the issue's region. */
export type Choices =
  | { enum: string; only?: string[] }
  | { from: "boards" | "departments" | "childRegions" };

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  required?: boolean;
  choices?: Choices;
}

const reason: FieldSpec = { name: "reason", kind: "textarea", required: true };

/** The fields each action's form asks for (names are the mutation input's). */
export const FORMS: Record<IssueAction, FieldSpec[]> = {
  ACCEPT: [],
  REJECT: [reason],
  TRIAGE: [{ name: "category", kind: "select", required: true, choices: { enum: "Category" } }],
  ASSIGN: [
    { name: "boardId", kind: "select", choices: { from: "boards" } },
    { name: "departmentId", kind: "select", choices: { from: "departments" } },
  ],
  START: [],
  NOTE: [{ name: "text", kind: "textarea", required: true }, { name: "public", kind: "checkbox" }],
  HAND_BACK: [reason],
  RESOLVE: [{ name: "reply", kind: "textarea", required: true }],
  RATE: [
    { name: "grade", kind: "select", required: true, choices: { enum: "RatingGrade" } },
    { name: "comment", kind: "textarea" },
  ],
  URGE: [],
  REOPEN: [reason],
  MERGE: [{ name: "duplicateId", kind: "text", required: true }, { name: "reason", kind: "text" }],
  ESCALATE: [reason],
  DELEGATE: [
    { name: "toRegion", kind: "select", required: true, choices: { from: "childRegions" } },
    { name: "dueAt", kind: "datetime", required: true },
    { name: "reason", kind: "text" },
  ],
  RETURN: [reason],
  COORDINATE: [
    { name: "level", kind: "select", required: true, choices: { enum: "HandlingLevel", only: ["CENTER", "LEADER_MEETING"] } },
    reason,
  ],
  MEETING_DECISION: [
    { name: "meetingDate", kind: "date", required: true },
    { name: "chair", kind: "text", required: true },
    { name: "decision", kind: "textarea", required: true },
  ],
};

export interface ActionError {
  code: string;
  message: string;
  field?: string | null | undefined;
}

export type Values = Record<string, string | boolean>;

function str(v: Values, k: string): string {
  const x = v[k];
  return typeof x === "string" ? x : "";
}

function opt(v: Values, k: string): string | null {
  return str(v, k) || null;
}

/** Sends one action; the API's typed errors come back as a list (empty on success). */
export async function runAction(
  action: IssueAction,
  issue: { id: string; version: number },
  v: Values,
  idempotencyKey: string,
): Promise<ActionError[]> {
  const base = { id: issue.id, expectedVersion: issue.version, idempotencyKey };
  switch (action) {
    case "ACCEPT":
      return (await request(Accept, { input: base })).acceptIssue.errors;
    case "REJECT":
      return (await request(Reject, { input: { ...base, reason: str(v, "reason") } })).rejectIssue.errors;
    case "TRIAGE":
      return (await request(Triage, { input: { ...base, category: str(v, "category") as Category } })).triageIssue.errors;
    case "ASSIGN":
      return (await request(Assign, { input: { ...base, boardId: opt(v, "boardId"), departmentId: opt(v, "departmentId") } })).assignIssue.errors;
    case "START":
      return (await request(Start, { input: base })).startIssue.errors;
    case "NOTE":
      return (await request(Note, { input: { ...base, text: str(v, "text"), public: v["public"] === true } })).addIssueNote.errors;
    case "HAND_BACK":
      return (await request(HandBack, { input: { ...base, reason: str(v, "reason") } })).handBackIssue.errors;
    case "RESOLVE":
      return (await request(Resolve, { input: { ...base, reply: str(v, "reply") } })).resolveIssue.errors;
    case "RATE":
      return (await request(Rate, { input: { ...base, grade: str(v, "grade") as RatingGrade, comment: opt(v, "comment") } })).rateIssue.errors;
    case "URGE":
      return (await request(Urge, { input: base })).urgeIssue.errors;
    case "REOPEN":
      return (await request(Reopen, { input: { ...base, reason: str(v, "reason") } })).reopenIssue.errors;
    case "MERGE": {
      const dup = (await request(VersionOf, { id: str(v, "duplicateId") })).issue;
      if (!dup) return [{ code: "NOT_FOUND", message: "—", field: "duplicates" }];
      return (await request(Merge, {
        input: { primaryId: issue.id, primaryVersion: issue.version, duplicates: [{ id: dup.id, expectedVersion: dup.version }], reason: opt(v, "reason"), idempotencyKey },
      })).mergeIssues.errors;
    }
    case "ESCALATE":
      return (await request(Escalate, { input: { ...base, reason: str(v, "reason") } })).escalateIssue.errors;
    case "DELEGATE": {
      const due = str(v, "dueAt");
      return (await request(Delegate, {
        input: { ...base, toRegion: str(v, "toRegion"), dueAt: due ? new Date(due).toISOString() : "", reason: opt(v, "reason") },
      })).delegateIssue.errors;
    }
    case "RETURN":
      return (await request(Return, { input: { ...base, reason: str(v, "reason") } })).returnIssue.errors;
    case "COORDINATE":
      return (await request(Coordinate, { input: { ...base, level: str(v, "level") as HandlingLevel, reason: str(v, "reason") } })).coordinateIssue.errors;
    case "MEETING_DECISION":
      return (await request(Meeting, {
        input: { ...base, meetingDate: str(v, "meetingDate"), chair: str(v, "chair"), decision: str(v, "decision") },
      })).recordMeetingDecision.errors;
  }
}
