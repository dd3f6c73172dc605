import { useEffect, useState } from "react";
import { type AuthConfig, demoSignIn, loadAuthConfig, startOidc } from "../lib/auth";
import { useLocale, useWords } from "../lib/i18n";

export function SignIn({ expired }: { expired: boolean }) {
  const w = useWords();
  const lang = useLocale();
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    loadAuthConfig(lang).then(setConfig, (e: unknown) => setError(String(e)));
  }, [lang]);
  const pick = (username: string) => {
    setError(null);
    demoSignIn(username).catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  return (
    <div className={expired ? "signin-overlay" : "signin-page"} role="dialog" aria-label={w.signIn}>
      <div className="card signin">
        <h2>{w.signIn}</h2>
        {expired && <p className="warn" data-testid="session-expired">{w.signInAgain}</p>}
        {error && <p className="error">{error}</p>}
        {!config && !error && <p>{w.loading}</p>}
        {config?.oidc && (
          <button type="button" className="primary" onClick={() => config.oidc && void startOidc(config.oidc)}>
            {w.oidc}
          </button>
        )}
        {config?.demo && (
          <>
            <p className="muted">{w.demoHint}</p>
            <ul className="accounts">
              {config.accounts.map((a) => (
                <li key={a.username}>
                  <button type="button" data-account={a.username} onClick={() => pick(a.username)}>
                    <strong>{a.displayName}</strong>
                    <span className="muted">
                      {a.username} · {a.roleLabel}
                      {a.regionName ? ` · ${a.regionName}` : ""}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
        {config && !config.demo && !config.oidc && <p className="error">{w.noSignIn}</p>}
      </div>
    </div>
  );
}
