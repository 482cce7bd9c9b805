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
  const baseTitle = document.title;

  // ---- the server's clock: relative times count from it, so a page opened
  // against a server whose clock differs from the browser's still agrees.

  let skew = 0;
  function setNow(iso) {
    const t = Date.parse(iso || "");
    if (!isNaN(t)) skew = t - Date.now();
  }
  setNow(body.dataset.now);
  function now() { return Date.now() + skew; }

  // The words match the server's (deploy.Ago, bot.Human), so a tick never
  // changes what a fresh render says.
  function ago(ms) {
    const s = ms / 1000;
    if (s < 30) return "just now";
    if (s < 90) return "1 min ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 48 * 3600) return Math.round(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " days ago";
  }
  function human(ms) {
    const s = Math.round(Math.max(0, ms) / 1000);
    if (s >= 3600) return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    if (s >= 60) return Math.floor(s / 60) + "m";
    return s + "s";
  }
  function until(ms) {
    if (ms <= 0) return "now";
    if (ms < 60000) return "in " + Math.round(ms / 1000) + " s";
    const m = Math.ceil(ms / 60000);
    if (ms < 3600000) return "in " + m + " min";
    if (ms < 48 * 3600000) return "in " + Math.floor(m / 60) + " h " + (m % 60) + " min";
    return "in " + Math.floor(ms / 86400000) + " days";
  }

  function set(el, text) { if (el.textContent !== text) el.textContent = text; }

  // tick brings every relative time, running step and countdown up to date.
  function tick() {
    const t = now();
    document.querySelectorAll("time[data-ago]").forEach(function (el) { set(el, ago(t - Date.parse(el.dateTime))); });
    document.querySelectorAll("time[data-elapsed]").forEach(function (el) { set(el, human(t - Date.parse(el.dateTime))); });
    document.querySelectorAll("time[data-until]").forEach(function (el) { set(el, until(Date.parse(el.dateTime) - t)); });
    document.querySelectorAll("#windows-panel li[data-start]").forEach(function (li) {
      const start = Date.parse(li.dataset.start), end = Date.parse(li.dataset.end);
      const state = li.querySelector(".w-state");
      if (t >= end) { li.hidden = true; return; }
      const open = t >= start;
      li.classList.toggle("window-open", open);
      if (state) set(state, open ? "open now · closes " + until(end - t) : "opens " + until(start - t));
    });
    updateTitle();
  }

  // updateTitle counts the gates waiting for the person looking (on the
  // dashboard: every gate waiting) in the tab's title.
  function updateTitle() {
    const sel = interactive ? '#live-runs .runitem[data-approval="mine"]' : "#live-runs .runitem[data-approval]";
    const n = document.querySelectorAll(sel).length;
    const title = n > 0 ? "(" + n + ") Approval waiting — deploybot" : baseTitle;
    if (document.title !== title) document.title = title;
  }

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
    let parent = u.parent ? document.getElementById(u.parent) : null;
    if (!parent && u.group) parent = serviceGroup(u.group, u.service, u.parent);
    if (el && (!parent || el.parentElement === parent)) {
      restoreDetails(node, openDetails(el));
      morph(el, node);
    } else {
      if (el) el.remove();
      if (parent) {
        if (u.prepend) parent.prepend(node);
        else parent.append(node);
        if (u.kind === "card" && node.scrollIntoView) node.scrollIntoView({ behavior: "smooth", block: "nearest" });
      }
    }
    if (u.kind === "run") {
      refreshEnvironmentsSoon();
      markSelected();
      if (!currentRun && u.live && !loading) selectRun(u.run, true);
    }
    if (u.run && u.run === currentRun && u.kind !== "notice") refreshTimelineSoon();
    tick();
  }

  // morph makes el look like node, keeping in place every element the update
  // renders again (changed or not) instead of replacing it. A button the
  // update redraws is then the same element: a click whose press landed on
  // it before the update and whose release lands after it still clicks it
  // (a replaced button would lose the click, the press's target being gone).
  // Elements differing in tag, id or action are replaced.
  function morph(el, node) {
    if (el.nodeType !== node.nodeType || el.nodeName !== node.nodeName ||
        (el.nodeType === Node.ELEMENT_NODE && (el.id !== node.id || (el.dataset.button || "") !== (node.dataset.button || "")))) {
      el.replaceWith(node);
      return;
    }
    if (el.nodeType !== Node.ELEMENT_NODE) {
      if (el.nodeValue !== node.nodeValue) el.nodeValue = node.nodeValue;
      return;
    }
    Array.from(el.attributes).forEach(function (a) { if (!node.hasAttribute(a.name)) el.removeAttribute(a.name); });
    Array.from(node.attributes).forEach(function (a) { if (el.getAttribute(a.name) !== a.value) el.setAttribute(a.name, a.value); });
    const from = Array.from(el.childNodes), to = Array.from(node.childNodes);
    to.forEach(function (c, i) {
      if (i < from.length) morph(from[i], c);
      else el.append(c);
    });
    from.slice(to.length).forEach(function (c) { c.remove(); });
  }

  // serviceGroup makes the list of a service's runs in a run list (the
  // groups in name order) and returns it, or null when the page has no
  // such run list.
  function serviceGroup(listID, service, id) {
    const list = document.getElementById(listID);
    if (!list) return null;
    const group = document.createElement("div");
    group.className = "service-group";
    group.dataset.service = service;
    const h = document.createElement("h4");
    h.className = "service-name";
    h.textContent = service;
    const ul = document.createElement("ul");
    ul.className = "runlist";
    ul.id = id;
    group.append(h, ul);
    const after = Array.from(list.querySelectorAll(":scope > .service-group")).find(function (g) { return g.dataset.service > service; });
    list.insertBefore(group, after || list.querySelector(":scope > .placeholder"));
    return ul;
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
      setNow(u.now);
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
      if (root) setNow(root.dataset.now);
      loading = null;
      recent.forEach(function (r) { if (r.seq > since && inMain(r.u)) apply(r.u); });
      markSelected();
      tick();
      if (push && currentRun) history.pushState({ run: id }, "", runPath(id));
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
          morph(el, node);
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
    const m = location.pathname.match(/^\/(?:console\/)?runs\/([^/]+)$/);
    if (m) selectRun(decodeURIComponent(m[1]), false);
    else location.reload();
  });

  // runPath is a run's own address: a reload shows the same run.
  function runPath(id) { return "/runs/" + encodeURIComponent(id); }
  if (currentRun && location.pathname !== runPath(currentRun)) {
    history.replaceState({ run: currentRun }, "", runPath(currentRun));
  }

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

  // ---- replies: a wide panel above the run, markdown rendered safely. The
  // text is never parsed as HTML: the few marks it may use (`code`, *bold*,
  // **bold**, bullet and numbered lines, line breaks) become elements made
  // here, and everything else goes in as text.

  function inline(parent, text) {
    const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\*([^*\n]+)\*/g;
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      const el = document.createElement(m[1] !== undefined ? "code" : "b");
      el.textContent = m[1] !== undefined ? m[1] : (m[2] !== undefined ? m[2] : m[3]);
      parent.append(el);
      last = re.lastIndex;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function markdown(text) {
    const out = document.createDocumentFragment();
    let list = null, para = null;
    text.replace(/\r/g, "").split("\n").forEach(function (line) {
      const bullet = line.match(/^\s*[•\-*]\s+(.*)$/);
      const numbered = line.match(/^\s*(\d+)[.)]\s+(.*)$/);
      if (bullet || numbered) {
        const kind = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = document.createElement(kind);
          if (numbered) list.start = Number(numbered[1]);
          out.append(list);
        }
        const li = document.createElement("li");
        inline(li, bullet ? bullet[1] : numbered[2]);
        list.append(li);
        para = null;
        return;
      }
      list = null;
      if (!line.trim()) { para = null; return; }
      if (para) para.append(document.createElement("br"));
      else { para = document.createElement("p"); out.append(para); }
      inline(para, line);
    });
    return out;
  }

  const replies = document.getElementById("replies");
  const replyPanel = document.getElementById("reply-panel");
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
    t.className = "reply-text md";
    t.append(markdown(text));
    li.append(t);
    const n = document.createElement("div");
    n.className = "reply-note";
    n.textContent = opts.public ? "shown to everyone" : "only you can see this";
    li.append(n);
    replies.prepend(li);
    while (replies.children.length > 4) replies.lastElementChild.remove();
    replyPanel.hidden = false;
  }
  const repliesClose = document.getElementById("replies-close");
  if (repliesClose) {
    repliesClose.addEventListener("click", function () {
      replyPanel.hidden = true;
      replies.replaceChildren();
    });
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
      if (!btn.dataset.why) btn.disabled = false;
    }
  }

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("button[data-button]");
    if (btn && interactive && !btn.dataset.why) {
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
      // What the page offers depends on who is looking: render it again.
      location.reload();
    });
  }

  // ---- the windows panel: booked and cancelled windows arrive on the live
  // stream; a booking made elsewhere (another platform or process) shows
  // within a minute.

  async function refreshWindows() {
    const el = document.getElementById("windows-panel");
    if (!el || document.hidden) return;
    try {
      const res = await fetch("/console/windows", { headers: { Accept: "text/html" } });
      if (!res.ok) return;
      const node = toNode(await res.text());
      const cur = document.getElementById("windows-panel");
      if (node && cur && cur.outerHTML !== node.outerHTML) {
        morph(cur, node);
        tick();
      }
    } catch (e) { /* the next round tries again */ }
  }
  if (document.getElementById("windows-panel")) setInterval(refreshWindows, 60000);

  // ---- the environments panel: where each service's environments stand
  // changes with the runs; it is fetched again shortly after a run changes
  // (and every minute, for runs of other processes).

  let envsTimer = null;
  async function refreshEnvironments() {
    envsTimer = null;
    if (!document.getElementById("envs-panel") || document.hidden) return;
    try {
      const res = await fetch("/console/environments", { headers: { Accept: "text/html" } });
      if (!res.ok) return;
      const node = toNode(await res.text());
      const cur = document.getElementById("envs-panel");
      if (node && cur && cur.outerHTML !== node.outerHTML) morph(cur, node);
    } catch (e) { /* the next round tries again */ }
  }
  function refreshEnvironmentsSoon() {
    if (!envsTimer) envsTimer = setTimeout(refreshEnvironments, 500);
  }
  if (document.getElementById("envs-panel")) setInterval(refreshEnvironments, 60000);

  markSelected();
  tick();
  setInterval(tick, 1000);
  connect();
})();
