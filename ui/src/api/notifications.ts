import type { ApiClient } from "./client";
import type { NotificationRules, PushKeyPublic, PushSubscriptionPublic } from "./types";

/** The signed-in member's push notifications: the key browsers subscribe with, their browsers, their rules. */
export function notificationsApi(client: ApiClient) {
  return {
    vapidKey: () => client.get<PushKeyPublic>("/notifications/vapid-key"),
    subscriptions: () => client.get<PushSubscriptionPublic[]>("/notifications/subscriptions"),
    /** `PushSubscription.toJSON()` of this browser; 201 new, 200 renewed. */
    subscribe: (subscription: PushSubscriptionJSON) =>
      client.post<PushSubscriptionPublic>("/notifications/subscriptions", subscription),
    unsubscribe: (id: string) => client.delete(`/notifications/subscriptions/${encodeURIComponent(id)}`),
    rules: () => client.get<NotificationRules>("/notifications/rules"),
    /** 422 `invalid_rules`: an unknown time zone or camera. */
    saveRules: (rules: NotificationRules) => client.request<NotificationRules>("PUT", "/notifications/rules", { body: rules }),
  };
}
