import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createApi } from "./api";
import { App } from "./App";
import { createServices, ServicesProvider } from "./context";
import { registerServiceWorker } from "./push/push";
import "./styles.css";

const services = createServices(createApi());
registerServiceWorker(); // push notifications (public/sw.js); also makes the UI installable

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ServicesProvider services={services}>
      <App />
    </ServicesProvider>
  </StrictMode>,
);
