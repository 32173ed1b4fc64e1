import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { ErrorNotice } from "../components/Feedback";
import { Field } from "../components/Field";
import { useServices } from "../context";
import { useDocumentTitle } from "../hooks";
import { useStore } from "../state/store";
import { AuthCard } from "./AuthCard";

export function LoginPage() {
  useDocumentTitle("Sign in");
  const { session } = useServices();
  const state = useStore(session);
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string; reason?: string } | null) ?? {};
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (state.status === "signed-in") return <Navigate to={from.from ?? "/"} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.login(email, password);
      navigate(from.from ?? "/", { replace: true });
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title="Sign in" footer={<>New to Guardian? <Link to="/signup">Create an account</Link></>}>
      {from.reason === "expired" && (
        <p className="notice" role="status">
          Your session ended. Sign in again to continue.
        </p>
      )}
      <ErrorNotice error={error} title="Could not sign in" />
      <form onSubmit={submit} noValidate={false}>
        <Field label="E-mail" type="email" name="email" autoComplete="email" required value={email}
               onChange={(e) => setEmail(e.target.value)} autoFocus />
        <Field label="Password" type="password" name="password" autoComplete="current-password" required
               value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" className="button wide" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </AuthCard>
  );
}
