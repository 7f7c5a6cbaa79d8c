// "Copy as curl": the command that sends a webhook's body to its source
// again. It never carries a token or secret: headers whose value the
// history redacted, or whose name looks secret, are left out, as are
// the ones curl sets itself.

const SKIP = new Set(["host", "content-length", "connection", "transfer-encoding", "accept-encoding", "x-forwarded-for"]);
const SECRET = ["auth", "token", "secret", "key", "password", "signature", "cookie"];

function quote(s) {
  return `'${String(s).replaceAll("'", "'\\''")}'`;
}

/** The ingress base URL: the configured listener, or this page's host when it listens on all addresses. */
function base(listen) {
  const m = /^(.*):(\d+)$/.exec(listen || "");
  if (!m) return `${location.protocol}//${location.hostname}`;
  let host = m[1];
  if (host === "0.0.0.0" || host === "[::]" || host === "::" || host === "") host = location.hostname;
  return `${location.protocol}//${host}:${m[2]}`;
}

/** The curl command for `view` (an EventView) with `body` as text. */
export function curl(view, body, status) {
  const source = status.sources.find((s) => s.name === view.source);
  const path = source ? source.path : `/hooks/${view.source}`;
  const parts = [`curl -X POST ${quote(base(status.listen) + path)}`];
  for (const [name, value] of Object.entries(view.headers || {})) {
    const lower = name.toLowerCase();
    if (SKIP.has(lower) || SECRET.some((p) => lower.includes(p))) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (String(v).includes("[redacted]")) continue;
      parts.push(`-H ${quote(`${name}: ${v}`)}`);
    }
  }
  parts.push(`--data-binary ${quote(body)}`);
  return parts.join(" \\\n  ");
}
