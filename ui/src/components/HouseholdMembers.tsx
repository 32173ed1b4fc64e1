import { useState, type FormEvent } from "react";
import { membersApi } from "../api/members";
import type { Role, UserPublic } from "../api/types";
import { useServices } from "../context";
import { useAsync } from "../hooks";
import { ErrorNotice, Loading } from "./Feedback";
import { Field } from "./Field";
import "./HouseholdMembers.css";

const ROLE_NAMES: Record<Role, string> = { admin: "Administrator", viewer: "Viewer" };

/**
 * The people of the home: everyone sees who has access; an administrator adds a member (with a first
 * password to hand over), changes a role or removes a member. The cloud keeps at least one administrator.
 */
export function HouseholdMembers({ admin, me }: { admin: boolean; me: string }) {
  const { api } = useServices();
  const members = useAsync(() => membersApi(api.client).list(), [api]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function change(member: UserPublic, action: () => Promise<unknown>) {
    setError(null);
    setBusy(member.id);
    try {
      await action();
      members.reload();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(null);
    }
  }

  function remove(member: UserPublic) {
    if (!window.confirm(`Remove ${member.email} from this home? They can no longer sign in.`)) return;
    void change(member, () => membersApi(api.client).remove(member.id));
  }

  return (
    <section className="card" aria-labelledby="members-heading">
      <h2 id="members-heading">Household members</h2>
      <ErrorNotice error={members.error} onRetry={members.reload} title="The members could not be loaded" />
      {members.loading && !members.data && <Loading />}
      {members.data && (
        <ul className="members" aria-label="Members">
          {members.data.map((member) => (
            <li key={member.id} className="member">
              <span className="member-email">
                {member.email}
                {member.id === me && <span className="muted"> (you)</span>}
              </span>
              {admin ? (
                <span className="member-actions">
                  <label className="visually-hidden" htmlFor={`role-${member.id}`}>Role of {member.email}</label>
                  <select id={`role-${member.id}`} value={member.role} disabled={busy === member.id}
                          onChange={(e) => void change(member, () => membersApi(api.client).setRole(member.id, e.target.value as Role))}>
                    <option value="admin">{ROLE_NAMES.admin}</option>
                    <option value="viewer">{ROLE_NAMES.viewer}</option>
                  </select>
                  {member.id !== me && (
                    <button type="button" className="button danger small" disabled={busy === member.id}
                            onClick={() => remove(member)} aria-label={`Remove ${member.email}`}>
                      Remove
                    </button>
                  )}
                </span>
              ) : (
                <span className="muted">{ROLE_NAMES[member.role as Role] ?? member.role}</span>
              )}
            </li>
          ))}
        </ul>
      )}
      <ErrorNotice error={error} title="That change was not made" />
      {admin && <AddMember onAdded={members.reload} />}
    </section>
  );
}

function AddMember({ onAdded }: { onAdded: () => void }) {
  const { api } = useServices();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<unknown>(null);
  const [added, setAdded] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setAdded(null);
    try {
      const member = await membersApi(api.client).add(email.trim(), password, role);
      setAdded(member.email);
      setEmail("");
      setPassword("");
      setRole("viewer");
      onAdded();
    } catch (reason) {
      setError(reason);
    }
  }

  return (
    <form className="add-member" onSubmit={submit} aria-labelledby="add-member-heading">
      <h3 id="add-member-heading">Add a member</h3>
      <Field label="E-mail" type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field label="First password" type="password" autoComplete="new-password" required minLength={12} value={password}
             onChange={(e) => setPassword(e.target.value)}
             hint="At least 12 characters. Hand it over in person; they can change it in their settings." />
      <div className="field">
        <label htmlFor="new-member-role">Role</label>
        <select id="new-member-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          <option value="viewer">Viewer: sees cameras and events</option>
          <option value="admin">Administrator: also manages devices, cameras and members</option>
        </select>
      </div>
      <button type="submit" className="button">Add member</button>
      {added && <p role="status">{added} can sign in now.</p>}
      <ErrorNotice error={error} title="The member was not added" />
    </form>
  );
}
