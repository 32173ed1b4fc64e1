import { createContext, useContext, type ReactNode } from "react";
import type { Api } from "./api";
import { MediaTokens } from "./state/mediaTokens";
import { SessionStore } from "./state/session";

export interface AppServices {
  api: Api;
  session: SessionStore;
  media: MediaTokens;
}

const Services = createContext<AppServices | null>(null);

export function createServices(api: Api): AppServices {
  return {
    api,
    session: new SessionStore(api),
    media: new MediaTokens((eventId, scopes) => api.events.clipToken(eventId, scopes)),
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
