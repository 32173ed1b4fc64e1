import { useEffect, useState, type ReactNode } from "react";
import type { AuthProviders } from "../api/types";
import { useServices } from "../context";

/** The frame of the sign-in and sign-up pages, with the identity-provider button when the cloud has one. */
export function AuthCard({ title, children, footer }: { title: string; children: ReactNode; footer: ReactNode }) {
  const { api } = useServices();
  // From the cloud's settings (GET /auth/providers): loading the page never starts a login.
  const [providers, setProviders] = useState<AuthProviders | null>(null);
  useEffect(() => {
    let live = true;
    api.auth.providers().then(
      (answer) => live && setProviders(answer),
      () => undefined, // no button then; the password form still works
    );
    return () => {
      live = false;
    };
  }, [api]);
  const oidcHref = api.auth.oidcHref(providers);

  return (
    <main id="main" className="auth-page">
      <div className="auth-card">
        <div className="brand large">
          <img src="/favicon.svg" alt="" width={40} height={40} />
          <span>Guardian</span>
        </div>
        <p className="tagline">Your cameras, your footage: video stays in your home.</p>
        <h1>{title}</h1>
        {children}
        {oidcHref && (
          <>
            <div className="divider">
              <span>or</span>
            </div>
            <a className="button secondary wide" href={oidcHref}>
              Continue with {providers?.oidc?.name ?? "single sign-on"}
            </a>
          </>
        )}
        <p className="auth-footer">{footer}</p>
      </div>
    </main>
  );
}
