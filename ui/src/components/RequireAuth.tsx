import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { useServices } from "../context";
import { useStore } from "../state/store";
import { Loading } from "./Feedback";

export function RequireAuth({ children }: { children: ReactNode }) {
  const { session } = useServices();
  const state = useStore(session);
  const location = useLocation();
  if (state.status === "loading") return <Loading label="Checking your session…" />;
  if (state.status === "signed-out") {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search, reason: state.reason }} />;
  }
  // An operator without a home sees the fleet (the nav offers only it); anyone else needs a home.
  if (!state.user.tenant_id && !state.user.is_operator) {
    return (
      <div className="notice notice-error page" role="alert">
        <strong>This account belongs to no home</strong>
        <p>Operator accounts manage relays from the command line (guardian-cloud); sign in with a home account to use this app.</p>
      </div>
    );
  }
  return <>{children}</>;
}
