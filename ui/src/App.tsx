import { useEffect } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { RequireAuth } from "./components/RequireAuth";
import { useServices } from "./context";
import { useStore } from "./state/store";
import { CamerasPage } from "./pages/Cameras";
import { DashboardPage } from "./pages/Dashboard";
import { DevicesPage } from "./pages/Devices";
import { EventDetailPage } from "./pages/EventDetail";
import { EventsPage } from "./pages/Events";
import { FleetPage } from "./pages/Fleet";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { SettingsPage } from "./pages/Settings";
import { SignupPage } from "./pages/Signup";

/** The dashboard; an operator without a tenant has none, and starts on the fleet. */
function Home() {
  const state = useStore(useServices().session);
  if (state.status === "signed-in" && state.user.is_operator && !state.user.tenant_id) return <Navigate to="/fleet" replace />;
  return <DashboardPage />;
}

export function App() {
  const { session } = useServices();
  useEffect(() => {
    session.load().catch(() => session.set({ status: "signed-out" }));
  }, [session]);

  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/signup" element={<SignupPage />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<Home />} />
          <Route path="events" element={<EventsPage />} />
          <Route path="events/:eventId" element={<EventDetailPage />} />
          <Route path="cameras" element={<CamerasPage />} />
          <Route path="devices" element={<DevicesPage />} />
          <Route path="settings" element={<SettingsPage />} />
          <Route path="fleet" element={<FleetPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}
