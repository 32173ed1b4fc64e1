import { useState } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { useServices } from "../context";
import type { Session } from "../state/session";
import { useStore } from "../state/store";

const TENANT_LINKS = [
  { to: "/", label: "Dashboard", end: true },
  { to: "/events", label: "Events" },
  { to: "/cameras", label: "Cameras" },
  { to: "/devices", label: "Devices" },
  { to: "/settings", label: "Settings" },
];
const FLEET_LINK = { to: "/fleet", label: "Fleet", end: false };

/** A tenant's pages for a tenant's member, the fleet for an operator (an operator account may have no tenant). */
function links(session: Session) {
  if (session.status !== "signed-in") return TENANT_LINKS;
  const own = session.user.tenant_id ? TENANT_LINKS : [];
  return session.user.is_operator ? [...own, FLEET_LINK] : own;
}

export function Layout() {
  const { session } = useServices();
  const state = useStore(session);
  const navigate = useNavigate();
  const [menuOpen, setMenuOpen] = useState(false);
  const [leaving, setLeaving] = useState(false);

  async function logout() {
    setLeaving(true);
    try {
      await session.logout();
    } finally {
      navigate("/login", { replace: true });
    }
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          <span>Guardian</span>
          {state.status === "signed-in" && state.tenant && <span className="tenant-name">{state.tenant.name}</span>}
        </div>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? "open" : undefined}>
          <ul>
            {links(state).map((link) => (
              <li key={link.to}>
                <NavLink to={link.to} end={link.end} onClick={() => setMenuOpen(false)}>
                  {link.label}
                </NavLink>
              </li>
            ))}
          </ul>
          <div className="account">
            {state.status === "signed-in" && <span className="muted email">{state.user.email}</span>}
            <button type="button" className="button secondary" onClick={logout} disabled={leaving}>
              {leaving ? "Signing out…" : "Sign out"}
            </button>
          </div>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
