// "Add a device", once a token is issued: the personalised image to download, compressed (.img.xz) first and
// uncompressed beside it, each with its checksum; the first-run steps; and the token as a QR code for a device
// that is already running.
import { useEffect, useMemo } from "react";
import { create as createQr } from "qrcode";
import { isApiError } from "../api/errors";
import type { BootstrapTokenIssued, EdgeImageCompressed } from "../api/types";
import { ErrorNotice, Loading } from "../components/Feedback";
import { useServices } from "../context";
import { useAsync } from "../hooks";
import { formatBytes } from "../state/format";

/** How often the page asks again while the cloud compresses its generic image (once per image, minutes). */
export const XZ_POLL_MS = 5_000;

/** The personalised image for one pending token, or the script's steps when the cloud offers no image. */
export function ImageDownload({ issued, relay }: { issued: BootstrapTokenIssued; relay: string }) {
  const { api } = useServices();
  const checksum = useAsync(() => api.devices.imageChecksum(issued.id), [api, issued.id]);
  const compressed = useAsync(() => api.devices.imageXzChecksum(issued.id), [api, issued.id]);
  const preparing = compressed.data !== undefined && !compressed.data.ready;
  const reloadCompressed = compressed.reload;
  useEffect(() => {
    if (!preparing) return;
    const timer = window.setInterval(reloadCompressed, XZ_POLL_MS);
    return () => window.clearInterval(timer);
  }, [preparing, reloadCompressed]);
  if (checksum.loading && !checksum.data) return <Loading label="Preparing your device's image…" />;
  if (isApiError(checksum.error, "edge_image_unavailable")) return <ScriptSteps relay={relay} />;
  if (!checksum.data) return <ErrorNotice error={checksum.error} onRetry={checksum.reload} title="The image is not available" />;
  const xz = compressed.data;
  return (
    <div className="image-download" data-testid="image-download">
      <h3>Set up the device</h3>
      {xz?.ready && <CompressedLink url={api.devices.imageXzUrl(issued.id)} image={xz} />}
      {xz && !xz.ready && (
        <p className="muted small" role="status" data-testid="image-xz-preparing">
          A smaller, compressed download (.img.xz) is being prepared: {Math.floor(xz.progress * 100)} %. It appears here by
          itself; the image below is the same, only larger.
        </p>
      )}
      <p>
        <a className={xz?.ready ? "button secondary" : "button"} href={api.devices.imageUrl(issued.id)} download
           data-testid="image-raw-link">
          {xz?.ready ? "Or the uncompressed image" : "Download your device's image"} ({formatBytes(checksum.data.size)})
        </a>
      </p>
      <p className="small">
        Its SHA-256: <code className="checksum" data-testid="image-sha256">{checksum.data.sha256}</code>
      </p>
      <p className="muted small">
        It already holds this token and your relay's address: keep it private, and use it for one device. If the download
        stops, your browser can resume it. <code>sha256sum</code> of the downloaded file must print the SHA-256 shown.
      </p>
      <ol className="steps">
        <li>
          <strong>Flash it</strong> to the device's disk or a USB stick with <a href="https://etcher.balena.io/">balenaEtcher</a> or{" "}
          <a href="https://www.raspberrypi.com/software/">Raspberry Pi Imager</a> (“Use custom”): both take {xz?.ready ? "the .img.xz" : "the image"} as it is.
          Or with <code>dd</code>:{" "}
          {xz?.ready && <><code>{"xz -dc guardian-edge-….img.xz | sudo dd of=/dev/sdX bs=4M conv=fsync status=progress"}</code>, or </>}
          <code>{"sudo dd if=guardian-edge-….raw of=/dev/sdX bs=4M conv=fsync status=progress"}</code>.
        </li>
        <li><strong>Boot</strong> the device from it, with a network cable plugged in.</li>
        <li><strong>Wait</strong> a few minutes: it sets itself up and appears in the list above, without reloading this page.</li>
      </ol>
    </div>
  );
}

/** The compressed download, first: what most people should take. */
function CompressedLink({ url, image }: { url: string; image: EdgeImageCompressed }) {
  return (
    <div data-testid="image-xz">
      <p>
        <a className="button" href={url} download>
          Download your device's image (.img.xz, {formatBytes(image.size ?? 0)})
        </a>
      </p>
      <p className="small">
        Its SHA-256: <code className="checksum" data-testid="image-xz-sha256">{image.sha256}</code>
        <span className="muted"> ({formatBytes(image.image_size)} once written)</span>
      </p>
    </div>
  );
}

/** Without a ready image on the cloud: personalise the generic image with the repository's script. */
function ScriptSteps({ relay }: { relay: string }) {
  return (
    <div data-testid="script-steps">
      <h3>Set up the device</h3>
      <p>
        <strong>Flash a personalised image</strong>: save the token to <code>token.txt</code>, then
      </p>
      <pre>
        <code>{`scripts/personalise-image.sh guardian-edge.raw my-device.raw \\\n    --relay ${relay} --token-file token.txt\n# write it to the device's disk, e.g.:\nsudo dd if=my-device.raw of=/dev/sdX bs=4M conv=fsync status=progress`}</code>
      </pre>
      <p>The device enrols by itself on first boot. Delete token.txt afterwards.</p>
    </div>
  );
}

/** The token as a QR code (one SVG path of dark modules), for a phone or a camera on the device's side. */
export function TokenQr({ token }: { token: string }) {
  const { size, path } = useMemo(() => {
    const { modules } = createQr(token, { errorCorrectionLevel: "L" });
    const parts: string[] = [];
    for (let row = 0; row < modules.size; row += 1) {
      for (let col = 0; col < modules.size; col += 1) {
        if (modules.data[row * modules.size + col]) parts.push(`M${col + 4} ${row + 4}h1v1h-1z`);
      }
    }
    return { size: modules.size + 8, path: parts.join("") };
  }, [token]);
  return (
    <svg className="token-qr" viewBox={`0 0 ${size} ${size}`} width={size * 4} height={size * 4} role="img"
         aria-label="The enrolment token as a QR code" data-testid="token-qr" shapeRendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
