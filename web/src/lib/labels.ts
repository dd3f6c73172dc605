// Enum labels from the API (`labels`), in the viewer's language.
import { graphql } from "../gql";
import { useQuery } from "./api";

const LabelsDoc = graphql(`
  query Labels($enums: [String!]) {
    labels(enums: $enums) { enum values { value label } }
  }
`);

const ENUMS = ["IssueAction", "Category", "RatingGrade", "HandlingLevel", "Light"];

export type Labels = (enumName: string, value: string) => string;
export type Options = (enumName: string) => { value: string; label: string }[];

export function useLabels(): { label: Labels; options: Options } {
  const q = useQuery(LabelsDoc, { enums: ENUMS });
  const byEnum = new Map((q.data?.labels ?? []).map((e) => [e.enum, e.values]));
  return {
    label: (e, v) => byEnum.get(e)?.find((x) => x.value === v)?.label ?? v,
    options: (e) => byEnum.get(e) ?? [],
  };
}
