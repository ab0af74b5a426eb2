/** The dashboard's stylesheet (inline: the page is one response, no build step, no assets). */
export const DASHBOARD_CSS = String.raw`
:root { --fg:#1d232b; --muted:#66707c; --line:#dde2e8; --bg:#f6f7f9; --card:#fff; --accent:#2f6fde;
  --created:#8a94a3; --queued:#2f6fde; --running:#b7791f; --completed:#2f855a; --failed:#c53030; --retry:#d69e2e; --cancelled:#4a5568; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; gap:1rem; align-items:center; padding:.6rem 1.2rem; background:#111827; color:#fff; flex-wrap:wrap; }
header h1 { font-size:1.1rem; margin:0 1rem 0 0; }
header a { color:#fff; text-decoration:none; }
header .spacer { flex:1; }
header button { background:#374151; color:#fff; border:0; border-radius:4px; padding:.3rem .7rem; cursor:pointer; }
#updated { color:#9ca3af; font-size:.85rem; }
main { padding:1rem 1.2rem; max-width:1280px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:.8rem 1rem; margin-bottom:1rem; }
h2 { font-size:1rem; margin:0 0 .6rem; } h3 { font-size:.95rem; margin:.8rem 0 .4rem; }
.grid { display:grid; grid-template-columns: 1fr 1fr; gap:1rem; } @media (max-width: 900px) { .grid { grid-template-columns:1fr; } }
.cards { display:flex; gap:.6rem; flex-wrap:wrap; }
.card { flex:1; min-width:110px; border-left:4px solid var(--muted); padding:.4rem .7rem; background:var(--bg); border-radius:4px; }
.card .n { font-size:1.5rem; font-weight:600; } .card .l { color:var(--muted); }
.badge { display:inline-block; padding:0 .5rem; border-radius:10px; color:#fff; font-size:.8rem; background:var(--muted); }
.s-created { background:var(--created); border-color:var(--created); } .s-queued { background:var(--queued); border-color:var(--queued); }
.s-running { background:var(--running); border-color:var(--running); } .s-completed { background:var(--completed); border-color:var(--completed); }
.s-failed { background:var(--failed); border-color:var(--failed); } .s-retry { background:var(--retry); border-color:var(--retry); }
.s-cancelled { background:var(--cancelled); border-color:var(--cancelled); }
.badge.breaker.b-closed { background:var(--completed); } .badge.breaker.b-half_open { background:var(--retry); } .badge.breaker.b-open { background:var(--failed); }
.badge.flow.paused { background:#8a6d00; } .badge.flow.waiting { background:#6b4fa3; } .badge.flow.active { background:var(--completed); }
.card.s-created, .card.s-queued, .card.s-running, .card.s-completed, .card.s-failed, .card.s-retry, .card.s-cancelled { background:var(--bg); }
table { width:100%; border-collapse:collapse; } th, td { text-align:left; padding:.3rem .45rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:500; font-size:.85rem; }
td.desc { max-width:340px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; color:var(--muted); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
pre { background:var(--bg); border:1px solid var(--line); padding:.6rem; border-radius:4px; overflow:auto; max-height:420px; margin:0; }
form label { display:block; margin:.3rem 0; color:var(--muted); } form .row { display:flex; gap:.6rem; }
form .row label { flex:1; }
input, select, textarea { font:inherit; padding:.3rem .4rem; border:1px solid var(--line); border-radius:4px; width:100%; background:#fff; color:var(--fg); }
input[type=checkbox] { width:auto; }
button { font:inherit; cursor:pointer; }
button.act { padding:.1rem .5rem; border:1px solid var(--line); background:#fff; border-radius:4px; margin-right:.3rem; }
button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:.4rem 1rem; }
.filters { display:flex; gap:.5rem; margin-bottom:.5rem; } .filters > * { width:auto; }
#flash { margin:0 auto; max-width:1280px; padding:0 1.2rem; }
#flash div { margin-top:.6rem; padding:.5rem .8rem; border-radius:4px; background:#e6f0ff; }
#flash div.err { background:#fde8e8; color:#9b1c1c; }
#token-panel { background:#fff7e0; border-bottom:1px solid #f0d58c; padding:.6rem 1.2rem; }
#token-panel form { display:flex; gap:.6rem; align-items:center; max-width:720px; } #token-panel label { margin:0; white-space:nowrap; }
.bars { display:flex; align-items:flex-end; gap:3px; height:120px; border-bottom:1px solid var(--line); }
.bar { flex:1; display:flex; flex-direction:column-reverse; min-width:6px; }
.bar .c { background:var(--completed); } .bar .f { background:var(--failed); }
.axis { display:flex; gap:3px; color:var(--muted); font-size:.75rem; } .axis span { flex:1; text-align:center; min-width:6px; }
.muted { color:var(--muted); }
.organ { border:1px solid var(--line); border-radius:4px; padding:.5rem .7rem; margin-bottom:.6rem; }
.cap { display:inline-block; width:80px; height:8px; background:var(--line); border-radius:4px; margin-right:.4rem; vertical-align:middle; }
.cap i { display:block; height:100%; background:var(--accent); border-radius:4px; }
#timeline { list-style:none; padding:0; margin:0; border-left:2px solid var(--line); }
#timeline li { position:relative; padding:.2rem 0 .6rem 1rem; }
#timeline li::before { content:""; position:absolute; left:-7px; top:.45rem; width:12px; height:12px; border-radius:50%; background:var(--muted); }
#timeline li.t-completed::before { background:var(--completed); } #timeline li.t-failed::before { background:var(--failed); }
#timeline li.t-running::before { background:var(--running); } #timeline li.t-retry::before { background:var(--retry); }
#timeline li.t-queued::before { background:var(--queued); } #timeline li.t-cancelled::before { background:var(--cancelled); }
dl.fields { display:grid; grid-template-columns: 140px 1fr; gap:.2rem .8rem; margin:0; } dl.fields dt { color:var(--muted); } dl.fields dd { margin:0; }
`;
