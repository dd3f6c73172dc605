import { useEffect, useState } from "react";
import { SignIn } from "./components/SignIn";
import { auth, CALLBACK_PATH, finishOidc, loadAuthConfig, useAuth } from "./lib/auth";
import { locale, useLocale, useWords } from "./lib/i18n";
import { navigate, usePath } from "./lib/router";
import { Cockpit } from "./pages/Cockpit";
import { Track } from "./pages/Track";
import { Workbench } from "./pages/Workbench";

function Page({ path }: { path: string }) {
  const [, section, arg] = path.split("/");
  if (section === "track") return <Track />;
  if (section === "workbench") return <Workbench issueId={arg ? decodeURIComponent(arg) : null} />;
  return <Cockpit code={arg ? decodeURIComponent(arg) : null} />;
}

function Nav({ path }: { path: string }) {
  const w = useWords();
  const lang = useLocale();
  const links: [string, string][] = [
    ["/cockpit", w.cockpit],
    ["/track", w.track],
    ["/workbench", w.workbench],
  ];
  return (
    <header className="nav">
      <strong className="brand">{w.app}</strong>
      <nav>
        {links.map(([href, label]) => (
          <a
            key={href}
            href={href}
            className={path.startsWith(href) ? "active" : ""}
            onClick={(e) => {
              e.preventDefault();
              navigate(href);
            }}
          >
            {label}
          </a>
        ))}
      </nav>
      <span className="spacer" />
      <button type="button" className="link" data-testid="locale" onClick={() => locale.set(lang === "en" ? "zh-CN" : "en")}>
        {lang === "en" ? "中文" : "EN"}
      </button>
      <button type="button" className="link" onClick={() => auth.signOut()}>
        {w.signOut}
      </button>
    </header>
  );
}

export function App() {
  const path = usePath();
  const { session, expired } = useAuth();
  const [callbackError, setCallbackError] = useState<string | null>(null);
  useEffect(() => {
    if (location.pathname !== CALLBACK_PATH) return;
    loadAuthConfig(locale.get())
      .then((cfg) => (cfg.oidc ? finishOidc(cfg.oidc) : Promise.reject(new Error("OIDC not configured"))))
      .then(navigate, (e: unknown) => {
        history.replaceState(null, "", "/cockpit");
        navigate("/cockpit");
        setCallbackError(String(e));
      });
  }, []);
  if (path === CALLBACK_PATH) return <p className="card">…</p>;
  // Never signed in: only the sign-in page. Expired: the page stays mounted under the dialog.
  if (!session && !expired) return (
    <>
      {callbackError && <p className="error">{callbackError}</p>}
      <SignIn expired={false} />
    </>
  );
  return (
    <>
      <Nav path={path} />
      <main>
        <Page path={path} />
      </main>
      {expired && <SignIn expired />}
    </>
  );
}
