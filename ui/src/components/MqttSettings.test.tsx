// @vitest-environment happy-dom
// The Home Assistant (MQTT) form: the broker's password is sealed to the device's config key in the
// browser (the PUT carries only ciphertext, which the key's owner opens), the cameras go back unchanged,
// an empty password field keeps the sealed password already saved, and the broker's CA goes with TLS only.
import { act } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, createApi } from "../api";
import type { DeviceConfig, MqttConfig } from "../api/deviceConfig";
import { createServices, ServicesProvider } from "../context";
import { sodium } from "../crypto/seal";
import { mount, until as untilOn, type Mounted } from "../testDom";
import { MqttSettings } from "./MqttSettings";

const PASSWORD = "broker-walnut-9";
const CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"; // the form passes it on as is
let page: Mounted;

afterEach(() => page?.unmount());

async function setUp(mqttStatus: { state: string; error: string } | null = null) {
  const lib = await sodium();
  const pair = lib.crypto_box_keypair();
  const variant = lib.base64_variants.URLSAFE_NO_PADDING;
  const camera = { name: "porch", display_name: "Porch", enabled: true, record: { url: "rtsp://10.0.0.7/main" } };
  let config = {
    device_id: "d1", version: 3, created_at: null, cameras: [camera], mqtt: null,
    reported: { applied_version: 3, refused_version: 0, refused_reason: "", cameras: [], reported_at: null, mqtt: mqttStatus },
    config_key: { key_id: "0123456789abcdef", public_key: lib.to_base64(pair.publicKey, variant) },
  } as unknown as DeviceConfig;
  const puts: { base_version: number; cameras: unknown[]; mqtt: MqttConfig }[] = [];
  const bodies: string[] = [];
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call = `${init?.method ?? "GET"} ${new URL(input, "http://cloud.test").pathname}`;
    if (call === "GET /api/v1/devices/d1/config") return json(config);
    if (call === "PUT /api/v1/devices/d1/config") {
      bodies.push(String(init?.body));
      const body = JSON.parse(String(init?.body));
      puts.push(body);
      config = { ...config, version: config.version + 1, mqtt: body.mqtt };
      return json(config, 201);
    }
    return json({ error: { code: "not_found", message: call } }, 404);
  };
  const services = createServices(createApi(new ApiClient({ fetch })));
  page = mount(<ServicesProvider services={services}><MqttSettings deviceId="d1" /></ServicesProvider>);
  const open = (ciphertext: string) =>
    lib.crypto_box_seal_open(lib.from_base64(ciphertext, variant), pair.publicKey, pair.privateKey, "text");
  return { puts, bodies, open, camera };
}

function field(label: string): HTMLInputElement {
  const found = [...page.container.querySelectorAll("label")].find((l) => l.textContent?.trim() === label);
  const input = found && (found.htmlFor ? page.$<HTMLInputElement>(`#${CSS.escape(found.htmlFor)}`) : found.querySelector("input"));
  if (!input) throw new Error(`no field ${label}`);
  return input;
}

function type(label: string, value: string) {
  const input = field(label);
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

async function save() {
  const form = page.$<HTMLFormElement>("form.mqtt-form")!;
  await act(async () => form.requestSubmit());
}

describe("MqttSettings", () => {
  it("seals the password for the device and keeps it on the next save", async () => {
    const { puts, bodies, open, camera } = await setUp();
    await untilOn(page, () => page.$("form.mqtt-form"), "the form");
    act(() => field("Publish to an MQTT broker").click());
    type("Broker address", "192.168.1.20");
    type("User name", "guardian");
    type("Password", PASSWORD);
    await save();
    await untilOn(page, () => puts.length === 1, "the save");
    const sent = puts[0]!;
    expect(sent.base_version).toBe(3);
    expect(sent.cameras).toEqual([camera]);
    expect(sent.mqtt).toMatchObject({ enabled: true, host: "192.168.1.20", username: "guardian", discovery: true });
    expect(sent.mqtt.password!.key_id).toBe("0123456789abcdef");
    expect(open(sent.mqtt.password!.ciphertext)).toBe(PASSWORD);
    expect(bodies[0]).not.toContain(PASSWORD);

    // Another change without typing the password again: the sealed one goes back as it was.
    await untilOn(page, () => page.container.textContent?.includes("Saved as version 4"), "the saved note");
    type("Topic prefix", "home/guardian");
    await save();
    await untilOn(page, () => puts.length === 2, "the second save");
    const second = puts[1]!;
    expect(second.base_version).toBe(4);
    expect(second.mqtt.topic_prefix).toBe("home/guardian");
    expect(second.mqtt.password).toEqual(sent.mqtt.password);
  });

  it("sends the broker's CA with TLS, and drops it when TLS is turned off", async () => {
    const { puts } = await setUp();
    await untilOn(page, () => page.$("form.mqtt-form"), "the form");
    expect(page.$("textarea")).toBeNull(); // no CA to give without TLS
    act(() => field("Publish to an MQTT broker").click());
    type("Broker address", "broker.lan");
    act(() => field("TLS (the broker's certificate and name are checked)").click());
    const ca = page.$<HTMLTextAreaElement>("textarea")!;
    const label = [...page.container.querySelectorAll("label")].find((l) => l.htmlFor === ca.id);
    expect(label?.textContent).toBe("Broker's CA certificate (PEM)");
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value")!.set!.call(ca, `${CA}\n`);
      ca.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await save();
    await untilOn(page, () => puts.length === 1, "the save");
    expect(puts[0]!.mqtt).toMatchObject({ tls: true, ca_pem: CA });

    await untilOn(page, () => page.container.textContent?.includes("Saved as version 4"), "the saved note");
    act(() => field("TLS (the broker's certificate and name are checked)").click());
    await save();
    await untilOn(page, () => puts.length === 2, "the second save");
    expect(puts[1]!.mqtt).toMatchObject({ tls: false, ca_pem: "" });
  });

  it("shows what the device reported of its connection: the reason it fails, or that it is connected", async () => {
    const reason = "the broker's certificate was refused: self-signed certificate in certificate chain";
    await setUp({ state: "failing", error: reason });
    const status = await untilOn(page, () => page.$("[data-testid=mqtt-status]"), "the status");
    expect(status.textContent).toContain("The device cannot connect to the broker");
    expect(status.textContent).toContain(reason);
    page.unmount();

    await setUp({ state: "connected", error: "" });
    const connected = await untilOn(page, () => page.$("[data-testid=mqtt-status]"), "the status");
    expect(connected.textContent).toBe("The device is connected to the broker.");
    page.unmount();

    await setUp(); // not reported yet: nothing said
    await untilOn(page, () => page.$("form.mqtt-form"), "the form");
    expect(page.$("[data-testid=mqtt-status]")).toBeNull();
  });
});
