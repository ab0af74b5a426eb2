import { TASK_STATUSES } from "../db/schema";
import { CLIENT_SCRIPT } from "./client-script";
import { DASHBOARD_CSS } from "./styles";

/**
 * The dashboard: a static shell holding no data (so it can be served without the token) whose
 * inline script calls the JSON API with the token the user entered, kept in localStorage.
 */
const statusOptions = TASK_STATUSES.map((s) => `<option value="${s}">${s}</option>`).join("");

const BODY = `
<header>
  <h1><a href="#/">SeedCore Edge</a></h1>
  <span id="coord" class="muted"></span>
  <span class="spacer"></span>
  <label><input type="checkbox" id="auto" checked> auto-refresh</label>
  <span id="updated"></span>
  <button id="token-btn" type="button">API token</button>
</header>
<div id="token-panel" hidden>
  <form id="token-form">
    <label for="token-input">API token</label>
    <input id="token-input" type="password" autocomplete="off" placeholder="Bearer token (API_TOKEN)">
    <button class="primary" type="submit">Save</button>
    <button class="act" type="button" id="token-clear">Forget</button>
    <span id="token-msg" class="muted"></span>
  </form>
</div>
<div id="flash" role="status"></div>
<main id="home">
  <section><h2>Tasks by status</h2><div id="counts" class="cards"></div></section>
  <div class="grid">
    <section><h2>Throughput, last 15 minutes</h2><div id="throughput"></div></section>
    <section>
      <h2>Submit a task</h2>
      <form id="submit-form">
        <div class="row">
          <label>type <input id="f-type" required value="general_query" list="f-types" maxlength="64"></label>
          <label>domain <input id="f-domain" maxlength="64"></label>
          <label>drift score <input id="f-drift" type="number" min="0" max="1" step="0.05" value="0"></label>
        </div>
        <label>description <input id="f-desc" maxlength="4096" placeholder="what is 12*(3+4)?"></label>
        <label>params (JSON object) <textarea id="f-params" rows="2">{}</textarea></label>
        <div class="row" style="align-items:center">
          <label><input type="checkbox" id="f-run" checked> run immediately</label>
          <button class="primary" id="f-submit" type="submit">Submit</button>
        </div>
        <datalist id="f-types">
          <option value="general_query"><option value="test_task"><option value="health_check"><option value="ping">
          <option value="execute"><option value="analyze"><option value="plan"><option value="sleep"><option value="flaky">
        </datalist>
      </form>
      <p id="submit-msg" class="muted"></p>
    </section>
  </div>
  <section>
    <h2>Recent tasks</h2>
    <div class="filters">
      <select id="filter-status"><option value="">any status</option>${statusOptions}</select>
      <input id="filter-type" placeholder="type" maxlength="64">
      <select id="filter-flow"><option value="">any flow state</option><option value="paused">paused</option><option value="waiting_on_key">waiting on key</option></select>
      <select id="filter-limit"><option>20</option><option selected>50</option><option>100</option><option>200</option></select>
      <button class="act run" id="retry-shown" type="button" hidden>retry all shown</button>
    </div>
    <table id="tasks">
      <thead><tr><th>id</th><th>type</th><th>status</th><th>attempts</th><th>description</th><th>created</th><th>updated</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Schedules</h2>
    <table id="schedules">
      <thead><tr><th>name</th><th>cron</th><th>state</th><th>next run</th><th>last run</th><th>last task</th><th>fired</th><th>skipped</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <div class="grid">
    <section><h2>Task types</h2><table id="types"><thead><tr><th>type</th><th>state</th><th>queued</th><th>running</th><th>retry</th><th>done</th><th></th></tr></thead><tbody></tbody></table></section>
    <section><h2>Concurrency keys</h2><table id="keys"><thead><tr><th>key</th><th>state</th><th>running / limit</th><th>waiting</th><th></th></tr></thead><tbody></tbody></table></section>
  </div>
  <section><h2>Organs and agents</h2><div id="organism-metrics" class="muted"></div><div id="organs"></div></section>
  <section>
    <h2>Services</h2>
    <div id="services-sources" class="muted"></div>
    <table id="services">
      <thead><tr><th>service</th><th>breaker</th><th>requests</th><th>ok</th><th>failed</th><th>retries</th><th>timeouts</th><th>deferred (breaker / rate)</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<main id="task-page" hidden>
  <p><a href="#/">&larr; all tasks</a></p>
  <section>
    <h2 id="task-title"></h2>
    <div id="task-actions"></div>
    <dl id="task-fields" class="fields"></dl>
  </section>
  <div class="grid">
    <section><h2>Timeline</h2><ol id="timeline"></ol></section>
    <section><h2>Result</h2><pre id="task-result"></pre><h3>Error</h3><pre id="task-error"></pre><h3>How it ran</h3><pre id="task-execution"></pre></section>
    <section><h2>Log</h2><ol id="task-logs" class="logs"></ol></section>
  </div>
</main>`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SeedCore Edge</title>
<style>${DASHBOARD_CSS}</style>
</head>
<body>${BODY}
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;

let scriptHash: Promise<string> | undefined;

/** CSP allowing exactly our inline script (by hash) and same-origin fetches. */
export function dashboardCsp(): Promise<string> {
  scriptHash ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(CLIENT_SCRIPT)).then((d) => {
    const bytes = new Uint8Array(d);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  });
  return scriptHash.then(
    (h) =>
      `default-src 'none'; script-src 'sha256-${h}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  );
}
