// @vitest-environment happy-dom
// The notification rules form: the member chooses every event or alerts only; the choice loads from the
// saved rules and goes back in the PUT with the rest of the rules unchanged.
import { act } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, createApi } from "../api";
import type { NotificationRules } from "../api/types";
import { createServices, ServicesProvider } from "../context";
import { mount, until, type Mounted } from "../testDom";
import { NotificationSettings } from "./NotificationSettings";

let page: Mounted;

afterEach(() => page?.unmount());

function setUp(saved: NotificationRules) {
  let rules = saved;
  const puts: NotificationRules[] = [];
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/notifications/vapid-key") return json({ enabled: true, public_key: "BPk" });
    if (call === "GET /api/v1/notifications/subscriptions") return json([]);
    if (call === "GET /api/v1/notifications/rules") return json(rules);
    if (call === "GET /api/v1/cameras") return json([]);
    if (call === "PUT /api/v1/notifications/rules") {
      rules = JSON.parse(String(init?.body));
      puts.push(rules);
      return json(rules);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  const services = createServices(createApi(new ApiClient({ fetch })));
  page = mount(<ServicesProvider services={services}><NotificationSettings /></ServicesProvider>);
  return { puts };
}

const radio = (value: string) => page.$<HTMLInputElement>(`input[name=severity][value=${value}]`);

const RULES: NotificationRules = {
  enabled: true, cameras: [], labels: ["person"], zones: ["gate"], quiet_hours: { start: "22:00", end: "07:00" }, time_zone: "Europe/Paris",
  severity: "all",
};

describe("NotificationSettings", () => {
  it("sends alerts only when the member chooses it, with the rest of the rules as they were", async () => {
    const { puts } = setUp(RULES);
    const all = await until(page, () => radio("all"), "the severity choice");
    expect(all.checked).toBe(true);
    expect(radio("alert")!.checked).toBe(false);

    act(() => radio("alert")!.click());
    const form = page.$<HTMLFormElement>("form.push-rules")!;
    await act(async () => form.requestSubmit());
    await until(page, () => puts.length === 1, "the save");
    expect(puts[0]).toEqual({ ...RULES, severity: "alert" });
    await until(page, () => page.container.textContent?.includes("Saved."), "the saved note");
    expect(radio("alert")!.checked).toBe(true);
  });

  it("shows the saved choice of alerts only", async () => {
    setUp({ ...RULES, severity: "alert" });
    const alert = await until(page, () => radio("alert"), "the severity choice");
    expect(alert.checked).toBe(true);
    expect(radio("all")!.checked).toBe(false);
  });
});
