/**
 * The dashboard's browser script, sent inline. Plain JS in a raw string (no build step), so it
 * must contain no backticks and no dollar-brace. Every value from the API reaches the page as
 * textContent, never as HTML.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  "use strict";
  var BASE = location.pathname.indexOf("/api/v1") === 0 ? "/api/v1" : "";
  var TOKEN_KEY = "seedcore_token";
  var STATUSES = ["created", "queued", "running", "completed", "failed", "retry", "cancelled"];
  var CANCELLABLE = { created: 1, queued: 1, retry: 1, running: 1 };
  var RERUNNABLE = { created: 1, failed: 1, retry: 1, cancelled: 1 };
  var REFRESH_MS = 2000;
  var $ = function (id) { return document.getElementById(id); };
  var busy = false;
  var tick = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k === "onclick") node.addEventListener("click", attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function badge(status) { return el("span", { class: "badge status s-" + status, text: status }); }
  /** Why a waiting task is not running: its type or key is paused, or its key is at its limit. */
  function flowBadge(t) {
    if (t.paused) return el("span", { class: "badge flow paused", "data-flow": "paused", text: "paused" });
    if (t.waiting_on_key) return el("span", { class: "badge flow waiting", "data-flow": "waiting_on_key", title: t.concurrency_key, text: "waiting on key" });
    return null;
  }
  function short(id) { return String(id).slice(0, 8); }
  function ago(iso) {
    if (!iso) return "";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function timeCell(iso) { return el("td", { title: iso || "", text: ago(iso) }); }

  function token() { try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
  function setToken(t) { try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ } }
  function showToken(message) {
    panelFor401 = true;
    $("token-panel").hidden = false;
    $("token-msg").textContent = message || "";
  }

  function flash(message, isError) {
    var box = $("flash");
    clear(box).appendChild(el("div", { class: isError ? "err" : "", text: message }));
    if (!isError) setTimeout(function () { if (box.textContent === message) clear(box); }, 4000);
  }

  async function api(path, opts) {
    opts = opts || {};
    var headers = { accept: "application/json" };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    var t = token();
    if (t) headers.authorization = "Bearer " + t;
    var res;
    try {
      res = await fetch(BASE + path, { method: opts.method || "GET", headers: headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    } catch (e) {
      throw new Error("cannot reach the server: " + e.message);
    }
    var text = await res.text();
    var body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
    var message = body && body.error && body.error.message ? body.error.message : "HTTP " + res.status;
    if (res.status === 401) { showToken(message); unauthorized++; }
    if (!res.ok) { var err = new Error(message); err.status = res.status; throw err; }
    return body;
  }
  /** 401s seen; the token panel opened for one closes again once a refresh succeeds. */
  var unauthorized = 0;
  var panelFor401 = false;

  function renderCounts(stats) {
    var box = clear($("counts"));
    box.appendChild(el("div", { class: "card", id: "count-total" }, [el("div", { class: "n", text: String(stats.total) }), el("div", { class: "l", text: "total" })]));
    STATUSES.forEach(function (s) {
      box.appendChild(el("div", { class: "card s-" + s, id: "count-" + s, "data-status": s }, [
        el("div", { class: "n", text: String(stats.by_status[s] || 0) }), el("div", { class: "l", text: s })]));
    });
  }

  function renderThroughput(minutes) {
    var box = clear($("throughput"));
    var max = 1, done = 0, failed = 0, submitted = 0;
    minutes.forEach(function (m) { max = Math.max(max, m.completed + m.failed); done += m.completed; failed += m.failed; submitted += m.submitted; });
    var bars = el("div", { class: "bars" });
    var axis = el("div", { class: "axis" });
    minutes.forEach(function (m, i) {
      var label = new Date(m.minute).toISOString().slice(11, 16) + " UTC: " + m.completed + " completed, " + m.failed + " failed, " + m.submitted + " submitted, " + m.retried + " retried";
      var bar = el("div", { class: "bar", title: label });
      var c = el("div", { class: "c" }); c.style.height = (100 * m.completed / max) + "px";
      var f = el("div", { class: "f" }); f.style.height = (100 * m.failed / max) + "px";
      bar.appendChild(c); bar.appendChild(f); bars.appendChild(bar);
      axis.appendChild(el("span", { text: i % 5 === 4 || i === minutes.length - 1 ? new Date(m.minute).toISOString().slice(11, 16) : "" }));
    });
    var last = minutes[minutes.length - 1] || { completed: 0 };
    box.appendChild(bars); box.appendChild(axis);
    box.appendChild(el("p", { class: "muted", id: "throughput-summary", text: done + " completed, " + failed + " failed, " + submitted + " submitted in " + minutes.length + " min; " + last.completed + " completed this minute (UTC)" }));
  }

  function actionButtons(task) {
    var out = [];
    if (RERUNNABLE[task.status]) out.push(el("button", { class: "act run", type: "button", "data-action": "run", text: "run", onclick: function () { act(task.id, "run"); } }));
    if (CANCELLABLE[task.status]) out.push(el("button", { class: "act cancel", type: "button", "data-action": "cancel", text: "cancel", onclick: function () { act(task.id, "cancel"); } }));
    return out;
  }

  async function act(id, action) {
    try {
      var t = await api("/tasks/" + encodeURIComponent(id) + "/" + action, { method: "POST" });
      flash(action + ": task " + short(t.id) + " is now " + t.status);
    } catch (e) { flash(action + " failed: " + e.message, true); }
    refresh();
  }

  /** The failed and cancelled tasks the list shows: what "retry all shown" retries. */
  var retryable = [];
  var RETRYABLE = { failed: 1, cancelled: 1 };

  function renderRetryShown(items) {
    retryable = items.filter(function (t) { return RETRYABLE[t.status]; });
    var button = $("retry-shown");
    button.hidden = retryable.length === 0;
    button.textContent = "retry all shown (" + retryable.length + ")";
  }

  /**
   * One bulk retry of exactly the shown failed/cancelled tasks: the list's filter, bounded to the
   * creation times shown, at most as many as shown (the bulk route goes newest first, like the list).
   */
  async function retryShown() {
    if (!retryable.length) return;
    if (!confirm("Retry the " + retryable.length + " failed or cancelled tasks shown? Each starts a fresh set of attempts.")) return;
    var times = retryable.map(function (t) { return Date.parse(t.created_at); });
    var body = {
      created_after: new Date(Math.min.apply(null, times)).toISOString(),
      created_before: new Date(Math.max.apply(null, times) + 1).toISOString(),
      limit: retryable.length,
    };
    var status = $("filter-status").value;
    if (RETRYABLE[status]) body.status = status;
    var type = $("filter-type").value.trim().toLowerCase();
    if (type) body.type = type;
    try {
      var r = await api("/tasks/bulk/retry", { method: "POST", body: body });
      flash("retried " + r.affected + " task" + (r.affected === 1 ? "" : "s"));
    } catch (e) { flash("retry all shown failed: " + e.message, true); }
    refresh();
  }

  function renderTasks(items) {
    renderRetryShown(items);
    var body = clear($("tasks").tBodies[0]);
    if (!items.length) body.appendChild(el("tr", {}, [el("td", { colspan: "8", class: "muted", text: "no tasks match" })]));
    items.forEach(function (t) {
      body.appendChild(el("tr", { "data-id": t.id, "data-status": t.status }, [
        el("td", {}, [el("a", { class: "mono task-link", href: "#/task/" + t.id, title: t.id, text: short(t.id) })]),
        el("td", { text: t.type }),
        el("td", {}, [badge(t.status), t.status === "created" && t.waiting_on > 0 ? el("span", { class: "muted", text: " waiting on " + t.waiting_on }) : null, " ", flowBadge(t)]),
        el("td", { text: t.attempts + "/" + t.max_attempts }),
        el("td", { class: "desc", title: t.description || "", text: t.description || (t.error ? "error: " + t.error : "") }),
        timeCell(t.created_at), timeCell(t.updated_at),
        el("td", {}, actionButtons(t)),
      ]));
    });
  }

  function button(label, onclick) { return el("button", { class: "act", type: "button", "data-action": label, text: label, onclick: onclick }); }
  function stateBadge(paused) { return el("span", { class: "badge flow " + (paused ? "paused" : "active"), text: paused ? "paused" : "active" }); }

  async function post(path, what) {
    try { await api(path, { method: "POST" }); flash(what); } catch (e) { flash(what + " failed: " + e.message, true); }
    tick = 0;
    refresh();
  }

  function renderSchedules(items) {
    var body = clear($("schedules").tBodies[0]);
    if (!items.length) body.appendChild(el("tr", {}, [el("td", { colspan: "9", class: "muted", text: "no schedules (POST /schedules)" })]));
    items.forEach(function (s) {
      var path = "/schedules/" + encodeURIComponent(s.name);
      var last = s.last_task_id ? [el("a", { class: "mono task-link", href: "#/task/" + s.last_task_id, text: short(s.last_task_id) }), " ", s.last_task_status ? badge(s.last_task_status) : null] : [];
      body.appendChild(el("tr", { "data-schedule": s.name }, [
        el("td", { class: "mono", text: s.name }),
        el("td", { class: "mono", title: s.timezone, text: s.cron + " (" + s.timezone + ")" }),
        el("td", {}, [stateBadge(s.paused)]),
        el("td", { title: s.next_run_at || "", text: s.next_run_at ? s.next_run_at.slice(11, 19) + " UTC" : "" }),
        timeCell(s.last_run_at),
        el("td", {}, last),
        el("td", { class: "fired", text: String(s.fired) }),
        el("td", { text: String(s.skipped) }),
        el("td", {}, [
          button(s.paused ? "resume" : "pause", function () { post(path + (s.paused ? "/resume" : "/pause"), "schedule " + s.name + (s.paused ? " resumed" : " paused")); }),
          button("trigger", function () { post(path + "/trigger", "schedule " + s.name + " triggered"); }),
        ]),
      ]));
    });
  }

  function renderTypes(items) {
    var body = clear($("types").tBodies[0]);
    items.forEach(function (t) {
      var path = "/types/" + encodeURIComponent(t.type);
      body.appendChild(el("tr", { "data-type": t.type }, [
        el("td", { class: "mono", text: t.type }), el("td", {}, [stateBadge(t.paused)]),
        el("td", { text: String(t.counts.queued) }), el("td", { text: String(t.counts.running) }), el("td", { text: String(t.counts.retry) }),
        el("td", { text: String(t.counts.completed) }),
        el("td", {}, [button(t.paused ? "resume" : "pause", function () { post(path + (t.paused ? "/resume" : "/pause"), "type " + t.type + (t.paused ? " resumed" : " paused")); })]),
      ]));
    });
  }

  function renderKeys(items) {
    var body = clear($("keys").tBodies[0]);
    if (!items.length) body.appendChild(el("tr", {}, [el("td", { colspan: "5", class: "muted", text: "no concurrency keys" })]));
    items.forEach(function (k) {
      var path = "/concurrency-keys/" + encodeURIComponent(k.key);
      body.appendChild(el("tr", { "data-key": k.key }, [
        el("td", { class: "mono", text: k.key }), el("td", {}, [stateBadge(k.paused)]),
        el("td", { text: k.running + " / " + k.limit }), el("td", { text: String(k.waiting) }),
        el("td", {}, [button(k.paused ? "resume" : "pause", function () { post(path + (k.paused ? "/resume" : "/pause"), "key " + k.key + (k.paused ? " resumed" : " paused")); })]),
      ]));
    });
  }

  function renderOrgans(summary) {
    var box = clear($("organs"));
    var m = summary.metrics || {};
    $("organism-metrics").textContent = "p_fast " + (typeof m.p_fast === "number" ? m.p_fast.toFixed(3) : "?") +
      " · escalations " + (m.escalations || 0) + " · fast-path SLO misses " + (m.slo_misses || 0) + " · tasks " + (m.tasks_total || 0);
    Object.keys(summary.organs || {}).sort().forEach(function (id) {
      var o = summary.organs[id];
      var rows = (o.agents || []).map(function (a) {
        var cap = el("span", { class: "cap" }); var fill = el("i"); fill.style.width = Math.round(100 * a.capability) + "%"; cap.appendChild(fill);
        return el("tr", { "data-agent": a.agent_id }, [el("td", { class: "mono", text: a.agent_id }), el("td", {}, [cap, a.capability.toFixed(3)]),
          el("td", { text: String(a.tasks_processed) }), el("td", { text: String(a.successes) }), el("td", { text: String(a.failures) })]);
      });
      var replicas = (o.replicas || []).map(function (r) { return "#" + r.replica + ": " + r.agent_count + " agents, " + r.tasks_processed + " tasks"; });
      box.appendChild(el("div", { class: "organ", "data-organ": id }, [
        el("h3", {}, [id + " ", el("span", { class: "muted", text: "(" + o.organ_type + ", " + o.agent_count + " agents, " + o.tasks_processed + " tasks done)" })]),
        el("p", { class: "muted replicas", text: replicas.length + " replica" + (replicas.length === 1 ? "" : "s") + " — " + replicas.join(" · ") }),
        el("table", {}, [el("thead", {}, [el("tr", {}, ["agent", "capability", "tasks done", "successes", "failures"].map(function (h) { return el("th", { text: h }); }))]), el("tbody", {}, rows)]),
      ]));
    });
  }

  /** Named service clients, summed over the organs' isolates (GET /organism/status → resilience). */
  function renderServices(status) {
    var r = status.resilience || {};
    var src = r.service_sources || {};
    $("services-sources").textContent = "summed over " + (src.isolates || 0) + " isolate" + (src.isolates === 1 ? "" : "s") +
      " · organ replicas answered " + (src.organs_answered || 0) + " / " + (src.organs_asked || 0) +
      (src.organs_missing ? " (" + src.organs_missing + " missing: their numbers are absent)" : "");
    var body = clear($("services").tBodies[0]);
    var services = r.services || {};
    var names = Object.keys(services).sort();
    if (!names.length) { body.appendChild(el("tr", {}, [el("td", { class: "muted", colspan: "8", text: "no service called yet" })])); return; }
    names.forEach(function (name) {
      var s = services[name];
      var b = s.breakers || {};
      var state = (s.breaker && s.breaker.state) || "closed";
      var title = "isolates: " + (b.closed || 0) + " closed, " + (b.half_open || 0) + " half-open, " + (b.open || 0) + " open";
      body.appendChild(el("tr", { "data-service": name }, [
        el("td", { class: "mono", text: name }),
        el("td", {}, [el("span", { class: "badge breaker b-" + state, "data-breaker": state, title: title, text: state.replace("_", "-") }), (b.open || 0) + (b.half_open || 0) > 0 && s.isolates > 1 ? el("span", { class: "muted", text: " " + (b.open || 0) + "/" + s.isolates + " open" }) : null]),
        el("td", { text: String(s.requests) }), el("td", { text: String(s.ok) }), el("td", { text: String(s.failed) }),
        el("td", { text: String(s.retries) }), el("td", { text: String(s.timeouts) }),
        el("td", { text: s.deferred_breaker + " / " + s.deferred_rate }),
      ]));
    });
  }

  function listQuery() {
    var q = new URLSearchParams();
    if ($("filter-status").value) q.set("status", $("filter-status").value);
    var type = $("filter-type").value.trim().toLowerCase();
    if (type) q.set("type", type);
    if ($("filter-flow").value) q.set("flow", $("filter-flow").value);
    q.set("limit", $("filter-limit").value);
    return "/tasks?" + q.toString();
  }

  async function loadHome() {
    var jobs = [
      api("/stats?minutes=15").then(function (s) { renderCounts(s); renderThroughput(s.throughput); }),
      api(listQuery()).then(function (page) { renderTasks(page.items); }),
    ];
    jobs.push(api("/schedules?limit=50").then(function (p) { renderSchedules(p.items); }));
    if (tick % 3 === 0) {
      jobs.push(api("/types?limit=50").then(function (p) { renderTypes(p.items); }));
      jobs.push(api("/concurrency-keys?limit=50").then(function (p) { renderKeys(p.items); }));
      jobs.push(api("/organism/organism-summary").then(renderOrgans, function (e) { $("organism-metrics").textContent = "coordinator: " + e.message; }));
      jobs.push(api("/organism/status").then(renderServices, function (e) { $("services-sources").textContent = "status: " + e.message; }));
    }
    await Promise.all(jobs);
  }

  function field(dl, name, value) {
    dl.appendChild(el("dt", { text: name }));
    dl.appendChild(el("dd", {}, [value == null || value === "" ? el("span", { class: "muted", text: "—" }) : typeof value === "string" ? value : value]));
  }

  function taskLinks(ids, cls) {
    if (!ids.length) return null;
    var span = el("span", { class: cls });
    ids.forEach(function (id, i) {
      if (i) span.appendChild(document.createTextNode(" "));
      span.appendChild(el("a", { class: "mono", href: "#/task/" + id, title: id, text: short(id) }));
    });
    return span;
  }

  /** A task's last ctx.progress() as a bar with its numbers and message. */
  function progressBar(p) {
    if (!p) return null;
    var span = el("span", { id: "task-progress" });
    if (p.total) span.appendChild(el("progress", { max: String(p.total), value: String(p.current) }));
    span.appendChild(document.createTextNode(" " + p.current + (p.total ? " / " + p.total + " (" + Math.round((p.current / p.total) * 100) + "%)" : "") + (p.message ? " — " + p.message : "")));
    return span;
  }

  async function loadTask(ref) {
    var t = await api("/tasks/" + encodeURIComponent(ref));
    var results = await Promise.all([api("/tasks/" + encodeURIComponent(t.id) + "/events"), api("/tasks/" + encodeURIComponent(t.id) + "/dependents?limit=50")]);
    var events = results[0], children = results[1];
    var title = clear($("task-title"));
    title.appendChild(el("span", { class: "mono", text: t.id + " " })); title.appendChild(badge(t.status));
    var fb = flowBadge(t); if (fb) { title.appendChild(document.createTextNode(" ")); title.appendChild(fb); }
    clear($("task-actions")).appendChild(el("div", {}, actionButtons(t)));
    var dl = clear($("task-fields"));
    field(dl, "type", t.type); field(dl, "description", t.description); field(dl, "domain", t.domain);
    field(dl, "drift score", String(t.drift_score)); field(dl, "attempts", t.attempts + " of " + t.max_attempts);
    field(dl, "progress", progressBar(t.progress));
    field(dl, "params", el("code", { text: JSON.stringify(t.params) }));
    field(dl, "created", t.created_at); field(dl, "updated", t.updated_at); field(dl, "run after", t.run_after);
    field(dl, "lease expires", t.lease_expires_at);
    var parents = taskLinks(t.depends_on || [], "parents");
    if (parents && t.status === "created" && t.waiting_on > 0) parents.appendChild(el("span", { class: "muted", text: " (waiting on " + t.waiting_on + ")" }));
    field(dl, "parents", parents);
    var kids = taskLinks(children.items.map(function (c) { return c.id; }), "children");
    if (kids && children.next_cursor) kids.appendChild(el("span", { class: "muted", text: " and more" }));
    field(dl, "children", kids);
    field(dl, "callback", t.callback_url ? t.callback_url + " (webhook " + (t.webhook_state || "not yet sent") + ")" : null);
    field(dl, "priority", t.priority ? t.priority + " s head start" : null);
    field(dl, "concurrency key", t.concurrency_key ? t.concurrency_key + " (limit " + t.concurrency_limit + ")" : null);
    var ol = clear($("timeline"));
    (events.items || events).forEach(function (e) {
      ol.appendChild(el("li", { class: "t-" + e.to_status, "data-to": e.to_status }, [
        el("strong", { text: (e.from_status || "new") + " → " + e.to_status }), " ",
        el("span", { class: "muted", text: e.actor + ", attempt " + e.attempt + ", " + e.at }),
        e.message ? el("div", { text: e.message }) : null,
      ]));
    });
    $("task-result").textContent = t.result == null ? "—" : JSON.stringify(t.result, null, 2);
    $("task-execution").textContent = t.execution == null ? "—" : JSON.stringify(t.execution, null, 2);
    var logs = clear($("task-logs"));
    (events.logs || []).forEach(function (l) {
      logs.appendChild(el("li", { class: "log-" + l.level }, [
        el("span", { class: "muted", text: l.at + " #" + l.attempt + " " }), el("strong", { text: l.level + " " }), l.message,
        l.data == null ? null : el("code", { text: " " + JSON.stringify(l.data) }),
      ]));
    });
    if (!logs.firstChild) logs.appendChild(el("li", { class: "muted", text: "no log lines" }));
    $("task-error").textContent = t.error || "—";
  }

  function route() {
    var m = location.hash.match(/^#\/task\/([0-9a-fA-F-]{4,36})$/);
    $("home").hidden = !!m;
    $("task-page").hidden = !m;
    return m ? m[1] : null;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    var before = unauthorized;
    try {
      var id = route();
      if (id) await loadTask(id); else await loadHome();
      tick++;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      if (panelFor401 && unauthorized === before) { $("token-panel").hidden = true; panelFor401 = false; }
    } catch (e) {
      if (e.status !== 401) flash(e.message, true);
    } finally {
      busy = false;
    }
  }

  $("submit-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var params;
    try { params = JSON.parse($("f-params").value || "{}"); } catch (e) { flash("params: not valid JSON (" + e.message + ")", true); return; }
    var body = { type: $("f-type").value.trim().toLowerCase(), params: params, run_immediately: $("f-run").checked, drift_score: Number($("f-drift").value || 0) };
    if ($("f-desc").value.trim()) body.description = $("f-desc").value.trim();
    if ($("f-domain").value.trim()) body.domain = $("f-domain").value.trim();
    try {
      var t = await api("/tasks", { method: "POST", body: body });
      var msg = clear($("submit-msg"));
      msg.appendChild(document.createTextNode("submitted "));
      msg.appendChild(el("a", { class: "mono", id: "submitted-link", href: "#/task/" + t.id, "data-id": t.id, text: short(t.id) }));
      msg.appendChild(document.createTextNode(" (" + t.status + ")"));
    } catch (e) { flash("submit failed: " + e.message, true); }
    refresh();
  });
  $("retry-shown").addEventListener("click", retryShown);
  ["filter-status", "filter-flow", "filter-limit"].forEach(function (id) { $(id).addEventListener("change", refresh); });
  $("filter-type").addEventListener("input", function () { clearTimeout(this._t); this._t = setTimeout(refresh, 300); });
  $("token-btn").addEventListener("click", function () { $("token-panel").hidden = !$("token-panel").hidden; });
  $("token-form").addEventListener("submit", function (ev) { ev.preventDefault(); setToken($("token-input").value.trim()); $("token-input").value = ""; tick = 0; refresh(); });
  $("token-clear").addEventListener("click", function () { setToken(""); flash("token forgotten"); });
  window.addEventListener("hashchange", function () { tick = 0; refresh(); });
  setInterval(function () { if ($("auto").checked && !document.hidden) refresh(); }, REFRESH_MS);
  refresh();
})();
`;
