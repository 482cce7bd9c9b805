// deploybot console: live updates over server-sent events, buttons, the
// command box. Every piece of HTML it inserts was rendered (and escaped) by
// the server; text it makes itself goes in with textContent.
(function () {
  "use strict";

  const body = document.body;
  const interactive = body.classList.contains("interactive");
  const main = document.getElementById("main");
  let currentRun = body.dataset.run || "";
  const recent = []; // the last updates, replayed after a run is loaded
  let loading = null;

  function seqOf(cursor) {
    const i = (cursor || "").lastIndexOf("-");
    return i < 0 ? 0 : Number(cursor.slice(i + 1)) || 0;
  }

  function toNode(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  // openDetails remembers which <details> were open inside el, by step.
  function openDetails(el) {
    const open = new Set();
    el.querySelectorAll("details[open]").forEach(function (d) {
      const step = d.closest("[data-step]");
      open.add(step ? "step:" + step.dataset.step : "self");
    });
    return open;
  }

  function restoreDetails(el, open) {
    el.querySelectorAll("details").forEach(function (d) {
      const step = d.closest("[data-step]");
      if (open.has(step ? "step:" + step.dataset.step : "self")) d.open = true;
    });
  }

  // apply replaces the element u.id, or inserts it into u.parent when the page shows that.
  function apply(u) {
    const node = toNode(u.html);
    if (!node) return;
    const el = document.getElementById(u.id);
    const parent = u.parent ? document.getElementById(u.parent) : null;
    if (el && (!parent || el.parentElement === parent)) {
      restoreDetails(node, openDetails(el));
      el.replaceWith(node);
    } else {
      if (el) el.remove();
      if (parent) {
        if (u.prepend) parent.prepend(node);
        else parent.append(node);
        if (u.kind === "card" && node.scrollIntoView) node.scrollIntoView({ behavior: "smooth", block: "nearest" });
      }
    }
    if (u.kind === "run") {
      markSelected();
      if (!currentRun && u.live && !loading) selectRun(u.run, true);
    }
    if (u.run && u.run === currentRun && u.kind !== "notice") refreshTimelineSoon();
  }

  // inMain reports whether an update belongs to the selected run's view
  // (its summary and cards) rather than to the run list or the notices.
  function inMain(u) { return u.kind === "summary" || u.kind === "card"; }

  function markSelected() {
    document.querySelectorAll(".runitem").forEach(function (li) {
      li.classList.toggle("selected", li.dataset.run === currentRun);
    });
  }

  // ---- the live stream

  const conn = document.getElementById("conn");
  function setConn(state, label) {
    if (!conn) return;
    conn.dataset.state = state;
    conn.querySelector(".conn-label").textContent = label;
  }

  function connect() {
    const es = new EventSource("/console/events?since=" + encodeURIComponent(body.dataset.cursor || ""));
    es.onopen = function () { setConn("live", "live"); };
    es.onerror = function () { setConn("down", "reconnecting…"); };
    es.addEventListener("reset", function () {
      es.close();
      location.reload();
    });
    es.addEventListener("update", function (ev) {
      let u;
      try { u = JSON.parse(ev.data); } catch (e) { return; }
      const seq = seqOf(ev.lastEventId);
      recent.push({ seq: seq, u: u });
      if (recent.length > 400) recent.shift();
      // The run being loaded replaces the summary and cards; their updates
      // are replayed once it is in. The run list and the notices are outside
      // it and are applied at once (replaying them by the loaded run's
      // cursor would drop those published before it).
      if (loading && inMain(u)) return;
      apply(u);
    });
  }

  // ---- selecting a run without a reload

  async function selectRun(id, push) {
    if (!id) return;
    const mine = {};
    loading = mine;
    try {
      const res = await fetch("/console/runs/" + encodeURIComponent(id) + "?part=main", { headers: { Accept: "text/html" } });
      const html = await res.text();
      if (loading !== mine) return;
      main.innerHTML = html;
      currentRun = res.ok ? id : "";
      body.dataset.run = currentRun;
      const root = main.querySelector("[data-cursor]");
      const since = root ? seqOf(root.dataset.cursor) : 0;
      loading = null;
      recent.forEach(function (r) { if (r.seq > since && inMain(r.u)) apply(r.u); });
      markSelected();
      if (push) history.pushState({ run: id }, "", "/console/runs/" + encodeURIComponent(id));
    } catch (e) {
      showToast("Could not load the run: " + e, true);
    } finally {
      if (loading === mine) loading = null;
    }
  }

  let timelineTimer = 0;
  function refreshTimelineSoon() {
    clearTimeout(timelineTimer);
    const id = currentRun;
    timelineTimer = setTimeout(async function () {
      try {
        const res = await fetch("/console/runs/" + encodeURIComponent(id) + "?part=timeline");
        if (!res.ok || id !== currentRun) return;
        const node = toNode(await res.text());
        const el = document.getElementById("timeline-" + id);
        if (node && el) {
          restoreDetails(node, openDetails(el));
          el.replaceWith(node);
        }
      } catch (e) { /* the next change tries again */ }
    }, 400);
  }

  document.addEventListener("click", function (ev) {
    const link = ev.target.closest("a[data-run-link]");
    if (link && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && ev.button === 0) {
      ev.preventDefault();
      selectRun(link.dataset.runLink, true);
    }
  });
  window.addEventListener("popstate", function () {
    const m = location.pathname.match(/^\/console\/runs\/([^/]+)$/);
    if (m) selectRun(decodeURIComponent(m[1]), false);
    else location.reload();
  });

  // ---- acting: commands, buttons, name

  function requestID() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  async function post(url, fields) {
    const res = await fetch(url, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(fields),
      credentials: "same-origin",
    });
    const type = res.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === 0) return res.json();
    return { ok: false, text: (await res.text()).trim() || res.statusText };
  }

  const replies = document.getElementById("replies");
  function showReply(text, opts) {
    if (!replies || !text) return;
    const li = document.createElement("li");
    li.className = "reply" + (opts.refused ? " refused" : "");
    if (opts.cmd) {
      const c = document.createElement("div");
      c.className = "reply-cmd";
      c.textContent = opts.cmd;
      li.append(c);
    }
    const t = document.createElement("div");
    t.className = "reply-text";
    t.textContent = text;
    li.append(t);
    const n = document.createElement("div");
    n.className = "reply-note";
    n.textContent = opts.public ? "shown to everyone" : "only you can see this";
    li.append(n);
    replies.prepend(li);
    while (replies.children.length > 6) replies.lastElementChild.remove();
  }

  const toast = document.getElementById("toast");
  let toastTimer = 0;
  function showToast(text, refused) {
    if (!toast) return;
    toast.textContent = text;
    toast.classList.toggle("refused", !!refused);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 6000);
  }

  // ask shows the confirmation / reason dialog; it resolves to the reason
  // ("" when none is asked) or null when cancelled.
  const dialog = document.getElementById("dialog");
  function ask(o) {
    return new Promise(function (resolve) {
      const title = document.getElementById("dialog-title");
      const text = document.getElementById("dialog-text");
      const label = document.getElementById("dialog-reason-label");
      const reason = document.getElementById("dialog-reason");
      const ok = document.getElementById("dialog-ok");
      const cancel = document.getElementById("dialog-cancel");
      const form = document.getElementById("dialog-form");
      title.textContent = o.title;
      text.textContent = o.text;
      text.hidden = !o.text;
      label.hidden = reason.hidden = !o.needsReason;
      reason.value = "";
      reason.required = o.needsReason;
      ok.textContent = o.ok;
      ok.className = "btn " + (o.danger ? "btn-danger solid" : "btn-primary");
      cancel.textContent = o.cancel || "Cancel";
      function done(v) {
        form.onsubmit = null;
        cancel.onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(v);
      }
      form.onsubmit = function (ev) {
        ev.preventDefault();
        if (o.needsReason && !reason.value.trim()) { reason.focus(); return; }
        done(o.needsReason ? reason.value.trim() : "");
      };
      cancel.onclick = function () { done(null); };
      dialog.onclose = function () { done(null); };
      dialog.showModal();
      (o.needsReason ? reason : ok).focus();
    });
  }

  async function onAction(btn) {
    const d = btn.dataset;
    const needsReason = d.reason === "1";
    let reason = "";
    if (needsReason || d.confirmTitle) {
      const step = btn.closest("[data-step]");
      const stepName = step ? step.querySelector(".step-name") : null;
      const what = stepName ? " “" + stepName.textContent + "”" : "";
      const answer = await ask({
        title: d.confirmTitle || d.label + what + "?",
        text: d.confirmText || "Say why: the reason is kept in the audit log and shown with the step.",
        ok: d.confirmOk || d.label,
        cancel: d.confirmCancel,
        needsReason: needsReason,
        danger: btn.classList.contains("btn-danger"),
      });
      if (answer === null) return;
      reason = answer;
    }
    btn.disabled = true;
    try {
      const r = await post("/console/click", { action: d.button, reason: reason, request_id: requestID() });
      if (r.text) {
        showReply(r.text, { refused: !r.ok, cmd: d.label });
        showToast(r.text, !r.ok);
      }
    } catch (e) {
      showToast("The console did not answer: " + e, true);
    } finally {
      btn.disabled = false;
    }
  }

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("button[data-button]");
    if (btn && interactive) {
      ev.preventDefault();
      onAction(btn);
    }
    const fill = ev.target.closest("[data-fill]");
    if (fill) {
      const input = document.getElementById("command-input");
      input.value = fill.dataset.fill;
      input.focus();
    }
  });

  const commandForm = document.getElementById("command-form");
  if (commandForm) {
    commandForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const input = document.getElementById("command-input");
      const text = input.value.trim();
      if (!text) return;
      const send = commandForm.querySelector("button[type=submit]");
      send.disabled = true;
      try {
        const r = await post("/console/command", { text: text, request_id: requestID() });
        showReply(r.text || (r.ok ? "Done." : "Refused."), { cmd: text, refused: !r.ok, public: r.public });
        if (r.ok) input.value = "";
        if (r.run && r.run !== currentRun) selectRun(r.run, true);
      } catch (e) {
        showToast("The console did not answer: " + e, true);
      } finally {
        send.disabled = false;
      }
    });
  }

  const nameForm = document.getElementById("name-form");
  if (nameForm) {
    nameForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const r = await post("/console/name", { name: document.getElementById("name-input").value });
      if (!r.ok) {
        showToast(r.text, true);
        return;
      }
      const me = document.getElementById("me");
      me.textContent = "acting as ";
      const b = document.createElement("b");
      b.id = "me-name";
      b.textContent = "@" + r.name;
      me.append(b);
      nameForm.closest(".identity").classList.remove("needs-name");
      showToast("You act as @" + r.name + ".", false);
      document.getElementById("command-input").focus();
    });
  }

  markSelected();
  connect();
})();
