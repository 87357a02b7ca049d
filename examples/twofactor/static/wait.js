// The waiting page: listen on the challenge's topic, and finish the login
// when the phone has approved. The event is only a signal: the server checks
// the challenge's state when the page finishes, and the page asks for the
// state itself whenever its stream ends, so no single event is trusted or
// needed.
"use strict";
(() => {
  const flow = document.getElementById("flow");
  const d = flow.dataset;
  const statusEl = document.getElementById("status");
  const connEl = document.getElementById("conn");
  const remainingEl = document.getElementById("remaining");
  // State for people and tests to look at.
  const st = (window.twofactor = { events: [], state: "pending", finished: false, opens: 0, errors: 0 });
  let finishing = false;

  function show(kind, text) {
    st.state = kind;
    statusEl.className = "status " + kind;
    statusEl.textContent = text;
    document.getElementById("again").hidden = !["denied", "expired", "refused"].includes(kind);
    document.getElementById("next").hidden = kind !== "done";
    const headings = { done: "Signed in", denied: "Sign-in denied", expired: "Sign-in expired", refused: "Sign-in not completed" };
    document.querySelector("h1").textContent = headings[kind] || "Approve on your phone";
    // The QR code and code mean nothing once the request is decided.
    document.querySelector(".wait").hidden = !["pending", "approved"].includes(kind);
  }

  // Resume after the update published when the challenge was created: an
  // approval that came before this page subscribed is replayed. The token
  // travels in an HttpOnly cookie, never in this URL.
  const url = new URL("/.well-known/mercure", location.origin);
  url.searchParams.set("topic", d.topic);
  url.searchParams.set("lastEventID", d.lastEventId);
  const es = new EventSource(url);
  window.twofactorSource = es;
  const connNames = ["connecting", "live", "closed"];
  const showConn = () => { connEl.textContent = connNames[es.readyState]; };

  es.onopen = () => { st.opens++; showConn(); };
  es.onerror = () => {
    st.errors++;
    showConn();
    // CLOSED: the hub answered 204 (the topic is finished), 401 (the
    // token expired with the request) or failed for good. Ask the server.
    if (es.readyState === EventSource.CLOSED) refresh();
  };
  es.addEventListener("2fa-complete", (e) => {
    st.events.push({ type: e.type, id: e.lastEventId, data: e.data });
    show("approved", "Approved on your phone. Signing you in…");
    finish();
  });
  es.addEventListener("2fa-denied", (e) => {
    st.events.push({ type: e.type, id: e.lastEventId, data: e.data });
    show("denied", "Denied on your phone. This sign-in was refused.");
  });

  async function refresh() {
    if (finishing || st.finished) return;
    try {
      const r = await fetch("/login/status", { cache: "no-store" });
      const j = await r.json();
      apply(j.state);
    } catch (err) {
      show("refused", "Lost contact with the server. Reload the page.");
    }
  }

  function apply(state) {
    switch (state) {
      case "approved": finish(); break;
      case "denied": show("denied", "Denied on your phone. This sign-in was refused."); break;
      case "expired": es.close(); showConn(); show("expired", "This sign-in request expired. Sign in again."); break;
      case "used": if (!st.finished) show("refused", "This sign-in request was already used. Sign in again."); break;
      case "pending": if (es.readyState === EventSource.CLOSED) show("refused", "Lost the connection. Reload the page."); break;
      default: show("refused", "No sign-in in progress. Sign in again.");
    }
  }

  async function finish() {
    if (finishing || st.finished) return;
    finishing = true;
    try {
      const r = await fetch("/login/finish", { method: "POST", body: new URLSearchParams({ csrf: d.csrf }) });
      const j = await r.json();
      st.finishStatus = r.status;
      if (r.ok) {
        st.finished = true;
        show("done", "Signed in as " + j.user + ".");
      } else {
        show(j.state === "expired" ? "expired" : "refused", j.error);
      }
    } catch (err) {
      show("refused", "Could not finish the sign-in. Reload the page.");
    } finally {
      finishing = false;
    }
  }

  // The countdown; at zero, ask the server (its clock decides).
  const expires = Number(d.expires);
  let lastAsk = 0;
  const timer = setInterval(() => {
    const left = Math.max(0, Math.ceil((expires - Date.now()) / 1000));
    remainingEl.textContent = String(left);
    if (st.state !== "pending" && st.state !== "approved") {
      clearInterval(timer);
    } else if (left === 0 && Date.now() - lastAsk > 1000) {
      lastAsk = Date.now(); // the clocks may differ: ask again each second
      refresh();
    }
  }, 250);
})();
