// "Test connection": the device itself opens the stream (through the relay) with the login sealed to its key
// exactly as a save seals it, and says what it found (codec, size) or exactly why not.
import { useState } from "react";
import { describeError, isApiError } from "../api";
import { describeFailure, describeRelayError, isRelayError, probeStream, type ProbeResult } from "../api/cameraAccess";
import type { ConfigKey } from "../api/deviceConfig";
import { useServices } from "../context";
import { sealCredentials } from "../crypto/seal";
import { hasNewCredentials, splitUrlCredentials, storedKeyIsStale, type CameraDraft } from "./cameraDraft";

/** The sealed login to send with a probe: new credentials sealed now, else the stored ones, else none. */
export async function probeCredentials(draft: CameraDraft, configKey: ConfigKey | null): Promise<string | null> {
  if (hasNewCredentials(draft)) {
    if (!configKey) throw new Error("The device has not sent its key for camera logins yet, so the password cannot be sealed for a test.");
    return (await sealCredentials(draft.username, draft.password, configKey)).ciphertext;
  }
  if (draft.stored?.record && !storedKeyIsStale(draft, configKey)) return draft.stored.record.ciphertext;
  return null;
}

function describeProbeError(error: unknown): string {
  if (isApiError(error, "no_relay")) return "Your home has no relay yet.";
  if (isApiError(error, "forbidden")) return "Only the home's administrators can test cameras.";
  if (isRelayError(error)) return describeRelayError(error);
  if (error instanceof Error && !isApiError(error)) return error.message;
  return describeError(error);
}

export function StreamTest({ deviceId, draft, configKey }: { deviceId: string; draft: CameraDraft; configKey: ConfigKey | null }) {
  const { api, relayFetch } = useServices();
  const [result, setResult] = useState<{ url: string; outcome: ProbeResult } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const url = draft.url.trim();
  const ready = /^rtsps?:\/\/\S{3,}/i.test(url) && !splitUrlCredentials(url);

  async function test() {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const sealed = await probeCredentials(draft, configKey);
      const grant = await api.deviceAccess.token(deviceId, ["probe"]);
      setResult({ url, outcome: await probeStream(grant, deviceId, url, sealed, relayFetch) });
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  }

  const outcome = result?.url === url ? result.outcome : null;
  return (
    <div className="stream-test">
      <button type="button" className="button secondary small" onClick={() => void test()} disabled={busy || !ready}>
        {busy ? "Testing…" : "Test connection"}
      </button>
      <span role="status" className="small" data-testid="probe-result">
        {busy && `${deviceId} is opening the stream…`}
        {outcome?.ok && (
          <span className="probe-ok">
            Works: {outcome.codec.toUpperCase()} {outcome.width}×{outcome.height}{outcome.fps ? ` at ${outcome.fps} fps` : ""}
          </span>
        )}
        {outcome && !outcome.ok && (
          <span className="probe-failed" data-kind={outcome.error.kind}>
            {describeFailure(outcome.error)}{outcome.error.detail ? ` (${outcome.error.kind}: ${outcome.error.detail})` : ` (${outcome.error.kind})`}
          </span>
        )}
        {error ? <span className="probe-failed">Not tested: {describeProbeError(error)}</span> : null}
      </span>
    </div>
  );
}
