// Path routing without a router library: /cockpit[/CODE], /track, /workbench[/ISSUE].
import { useSyncExternalStore } from "react";
import { store } from "./store";

const path = store<string>(location.pathname);
addEventListener("popstate", () => path.set(location.pathname));

export function navigate(to: string): void {
  if (to === location.pathname) return;
  history.pushState(null, "", to);
  path.set(to);
}

export function usePath(): string {
  return useSyncExternalStore(path.subscribe, path.get);
}
