// Enum labels from the API (`labels`), in the viewer's language: fetched once per locale and
// session and shared by every component (a page of cards must not ask once per card).
import { useEffect, useState } from "react";
import { graphql } from "../gql";
import type { LabelsQuery } from "../gql/graphql";
import { request } from "./api";
import { useAuth } from "./auth";
import { useLocale } from "./i18n";

const LabelsDoc = graphql(`
  query Labels($enums: [String!]) {
    labels(enums: $enums) { enum values { value label } }
  }
`);

const ENUMS = ["IssueAction", "Category", "RatingGrade", "HandlingLevel", "Light"];

type Table = Map<string, LabelsQuery["labels"][number]["values"]>;
const cache = new Map<string, Promise<Table>>();

function load(key: string): Promise<Table> {
  let hit = cache.get(key);
  if (!hit) {
    hit = request(LabelsDoc, { enums: ENUMS }).then((d) => new Map(d.labels.map((e) => [e.enum, e.values])));
    hit.catch(() => cache.delete(key)); // a failed fetch is retried by the next caller
    cache.set(key, hit);
  }
  return hit;
}

export type Labels = (enumName: string, value: string) => string;
export type Options = (enumName: string) => { value: string; label: string }[];

export function useLabels(): { label: Labels; options: Options } {
  const lang = useLocale();
  const { session } = useAuth();
  const key = `${lang}:${session?.token ?? ""}`;
  const [table, setTable] = useState<Table | null>(null);
  useEffect(() => {
    if (!session) return;
    let live = true;
    load(key).then(
      (t) => live && setTable(t),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [key, session]);
  return {
    label: (e, v) => table?.get(e)?.find((x) => x.value === v)?.label ?? v,
    options: (e) => table?.get(e) ?? [],
  };
}
