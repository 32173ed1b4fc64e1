import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate } from "react-router";
import { ErrorNotice } from "../components/Feedback";
import { Field } from "../components/Field";
import { useServices } from "../context";
import { useDocumentTitle } from "../hooks";
import { useStore } from "../state/store";
import { AuthCard } from "./AuthCard";

const MIN_PASSWORD = 12;

export function SignupPage() {
  useDocumentTitle("Create an account");
  const { session } = useServices();
  const state = useStore(session);
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [home, setHome] = useState("Home");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (state.status === "signed-in") return <Navigate to="/" replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.signup({ email, password, tenant_name: home.trim() || "Home" });
      navigate("/", { replace: true });
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title="Create an account" footer={<>Already have an account? <Link to="/login">Sign in</Link></>}>
      <ErrorNotice error={error} title="Could not create the account" />
      <form onSubmit={submit}>
        <Field label="E-mail" type="email" name="email" autoComplete="email" required value={email}
               onChange={(e) => setEmail(e.target.value)} autoFocus />
        <Field label="Password" type="password" name="new-password" autoComplete="new-password" required
               minLength={MIN_PASSWORD} value={password} onChange={(e) => setPassword(e.target.value)}
               hint={`At least ${MIN_PASSWORD} characters. A few unrelated words are easy to remember and hard to guess.`} />
        <Field label="Name of your home" name="home" required maxLength={100} value={home}
               onChange={(e) => setHome(e.target.value)} hint="Shown at the top of the app, e.g. “Lake house”." />
        <button type="submit" className="button wide" disabled={busy}>
          {busy ? "Creating…" : "Create account"}
        </button>
      </form>
    </AuthCard>
  );
}
