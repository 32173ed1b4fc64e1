"""A viewer in headless Chromium (Debian's build, driven by Playwright's async API): a receive-only
RTCPeerConnection through TURN only, with signalling handed to the test (offer out, answer in)."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]

PAGE = "<!doctype html><title>live</title><video id=v autoplay muted playsinline></video>"

# Waits for ICE gathering to finish: the edge (aiortc) does not take trickled candidates.
MAKE_OFFER = """async ({url, username, credential}) => {
  window.t0 = window.t0 || performance.now();
  const pc = new RTCPeerConnection({iceServers: [{urls: url, username, credential}], iceTransportPolicy: 'relay'});
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.ontrack = (e) => { document.getElementById('v').srcObject = new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((done) => pc.addEventListener('icegatheringstatechange',
      () => { if (pc.iceGatheringState === 'complete') done(); }));
  }
  return pc.localDescription.sdp;
}"""

STATS = """async () => {
  const out = {framesDecoded: 0, width: 0, height: 0, codec: null, localCandidate: null, remoteCandidate: null};
  const stats = await window.pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded = s.framesDecoded || 0; out.width = s.frameWidth || 0; out.height = s.frameHeight || 0;
      const codec = s.codecId && stats.get(s.codecId);
      if (codec) out.codec = codec.mimeType + ';' + (codec.sdpFmtpLine || '');
    }
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      out.localCandidate = stats.get(pair.localCandidateId).candidateType;
      out.remoteCandidate = stats.get(pair.remoteCandidateId).candidateType;
    }
  });
  return out;
}"""


class Viewer:
    def __init__(self, page: Any) -> None:
        self.page = page

    @classmethod
    async def open(cls, browser: Any) -> Viewer:
        page = await browser.new_page()
        await page.set_content(PAGE)
        return cls(page)

    async def offer(self, turn_url: str, username: str, credential: str) -> str:
        sdp: str = await self.page.evaluate(MAKE_OFFER, {"url": turn_url, "username": username, "credential": credential})
        return sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.page.evaluate("(sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})", answer_sdp)
        # window.endedAt: when the edge was seen to end the session (Date.now(), from the event): its DTLS
        # close_notify closes the DTLS transport at once; the connection state follows only when ICE
        # consent runs out (~15 s).
        await self.page.evaluate("""() => {
          const dtls = window.pc.getReceivers()[0].transport;
          dtls.addEventListener('statechange', () => {
            if (['closed', 'failed'].includes(dtls.state) && !window.endedAt) window.endedAt = Date.now();
          });
        }""")
        # window.lastFrameAt: when a sample first saw more frames decoded (Date.now(), to the 100 ms sampling).
        await self.page.evaluate(f"""() => {{ window.sampler = setInterval(async () => {{
          const s = await ({STATS})();
          if (!window.latest || s.framesDecoded > window.latest.framesDecoded) window.lastFrameAt = Date.now();
          window.latest = s; }}, 100); }}""")

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.page.evaluate(STATS)
        return result

    async def frames_beyond(self, count: int, timeout_ms: int = 20000) -> dict[str, Any]:
        """Stats once more than ``count`` frames were decoded (the page samples its stats every 100 ms)."""
        await self.page.wait_for_function("(n) => window.latest && window.latest.framesDecoded > n",
                                          arg=count, timeout=timeout_ms)
        return await self.stats()

    async def close(self) -> None:
        await self.page.evaluate("() => { clearInterval(window.sampler); window.pc && window.pc.close(); }")
        await self.page.close()
