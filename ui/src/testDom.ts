// Rendering for the page tests (happy-dom): mount, let fetches and effects settle, wait for the page.
import { act, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

export interface Mounted {
  container: HTMLElement;
  $: <E extends Element = HTMLElement>(selector: string) => E | null;
  unmount: () => void;
}

export function mount(element: ReactNode): Mounted {
  const container = document.createElement("div");
  document.body.append(container);
  const root: Root = createRoot(container);
  act(() => root.render(element));
  let mounted = true;
  return {
    container,
    $: (selector) => container.querySelector(selector),
    unmount: () => {
      if (mounted) act(() => root.unmount());
      mounted = false;
      container.remove();
    },
  };
}

/** Let pending fetches, effects and renders run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) {
    await act(async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
  }
}

/** Settle until `find` finds something (or fail, saying what the page shows). */
export async function until<T>(page: Mounted, find: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i += 1) {
    const found = find();
    if (found) return found;
    await settle();
  }
  throw new Error(`timed out waiting for ${what}; the page shows: ${page.container.textContent}`);
}
