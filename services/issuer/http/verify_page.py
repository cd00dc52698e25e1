"""The public verification page: paste a credential, see each check and its reason."""

from __future__ import annotations

VERIFY_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verify a credential</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
textarea { width: 100%; height: 10rem; font-family: monospace; }
li.ok::marker { content: "\\2714  "; color: green; }
li.fail::marker { content: "\\2718  "; color: #b00; }
</style>
</head>
<body>
<h1>Verify a credential</h1>
<p>Paste an Open Badges 3.0 credential signed as a VC-JWT (the text of three base64url
parts separated by dots). Its key is found from the issuer's did:web document
(<a href="/.well-known/did.json">/.well-known/did.json</a>); a credential shows no learner
id, only a pseudonymous subject the learner can vouch for.</p>
<textarea id="credential" aria-label="credential"></textarea>
<p><button id="verify" type="button">Verify</button></p>
<h2 id="verdict" hidden></h2>
<ul id="checks"></ul>
<script>
const names = {signature: "Signature", issuer_key: "Issuer key", validity: "Validity",
               status: "Status"};
document.getElementById("verify").addEventListener("click", async () => {
  const response = await fetch("/v1/verify", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({credential: document.getElementById("credential").value.trim()}),
  });
  const report = await response.json();
  const verdict = document.getElementById("verdict");
  verdict.hidden = false;
  verdict.textContent = report.valid ? "Valid" : "Not valid";
  const list = document.getElementById("checks");
  list.replaceChildren();
  for (const [key, label] of Object.entries(names)) {
    const check = report[key];
    if (!check) { continue; }
    const item = document.createElement("li");
    item.className = check.ok ? "ok" : "fail";
    item.textContent = label + ": " + check.reason;
    list.appendChild(item);
  }
  if (report.kid) {
    // A DID URL (did:web:...#<thumbprint>) resolves through the issuer's /.well-known/did.json.
    const item = document.createElement("li");
    item.textContent = "Signed with key " + report.kid + (report.alg ? " (" + report.alg + ")" : "");
    list.appendChild(item);
  }
  if (!report.signature) {
    const item = document.createElement("li");
    item.className = "fail";
    item.textContent = report.detail || "the request was refused";
    list.appendChild(item);
  }
});
</script>
</body>
</html>
"""
