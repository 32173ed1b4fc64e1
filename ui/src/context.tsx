import { createContext, useContext, type ReactNode } from "react";
import type { Api } from "./api";
import type { FetchLike } from "./api/client";
import { MediaTokens } from "./state/mediaTokens";
import { PictureTokens } from "./state/pictureTokens";
import { SessionStore } from "./state/session";

export interface AppServices {
  api: Api;
  session: SessionStore;
  media: MediaTokens;
  pictures: PictureTokens;
  /** fetch for the relay (pictures, discovery, probes): tests hand in their own, as for the ApiClient. */
  relayFetch: FetchLike;
}

const Services = createContext<AppServices | null>(null);

export function createServices(api: Api): AppServices {
  return {
    api,
    session: new SessionStore(api),
    media: new MediaTokens((eventId, scopes) => api.events.clipToken(eventId, scopes)),
    pictures: new PictureTokens((deviceId, camera) => api.deviceAccess.token(deviceId, ["picture"], camera)),
    relayFetch: (input, init) => globalThis.fetch(input, init),
  };
}

export function ServicesProvider({ services, children }: { services: AppServices; children: ReactNode }) {
  return <Services.Provider value={services}>{children}</Services.Provider>;
}

export function useServices(): AppServices {
  const services = useContext(Services);
  if (!services) throw new Error("useServices outside ServicesProvider");
  return services;
}
