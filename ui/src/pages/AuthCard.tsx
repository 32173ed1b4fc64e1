import { useEffect, useState, type ReactNode } from "react";
import { useServices } from "../context";

/** The frame of the sign-in and sign-up pages, with the identity-provider button when the cloud has one. */
export function AuthCard({ title, children, footer }: { title: string; children: ReactNode; footer: ReactNode }) {
  const { api } = useServices();
  const [oidc, setOidc] = useState(false);
  useEffect(() => {
    let live = true;
    void api.auth.oidcAvailable().then((yes) => live && setOidc(yes));
    return () => {
      live = false;
    };
  }, [api]);

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
        {oidc && (
          <>
            <div className="divider">
              <span>or</span>
            </div>
            <a className="button secondary wide" href={api.auth.oidcLoginUrl()}>
              Continue with single sign-on
            </a>
          </>
        )}
        <p className="auth-footer">{footer}</p>
      </div>
    </main>
  );
}
