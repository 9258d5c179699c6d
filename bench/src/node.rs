//! Our own Node.js equivalent of a hook CREATE, for the ratio: not the catalog's feed, but a
//! script that makes the same HTTP calls as `hook-feed` CREATE, in the same order, against the
//! same servers, run the same way (a new `node` process per activation, parameters on stdin).
//! Only Node's standard library: nothing to install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The script. The calls, as `hook-feed` makes them: read the trigger, list the repository's
/// hooks, store the configuration on the trigger, create the hook, store its id.
const SCRIPT: &str = r#"'use strict';
// Our own Node.js equivalent of hook-feed CREATE (benchmark only): the same HTTP calls.
const http = require('http');

function call(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const u = new URL(url);
    const options = { method, hostname: u.hostname, port: u.port, path: u.pathname + u.search,
      headers: Object.assign({ 'Accept': 'application/json' }, headers) };
    if (data !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.headers['Content-Length'] = Buffer.byteLength(data);
    }
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (res.statusCode >= 300) reject(new Error(method + ' ' + u.pathname + ': HTTP ' + res.statusCode));
        else resolve(json);
      });
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

async function main(params) {
  const apiHost = process.env.__OW_API_HOST;
  const parts = params.triggerName.split('/').filter((p) => p.length > 0);
  const namespace = parts[0] === '_' ? process.env.__OW_NAMESPACE : parts[0];
  const triggerUrl = apiHost + '/api/v1/namespaces/' + encodeURIComponent(namespace) +
    '/triggers/' + encodeURIComponent(parts[1]);
  const ow = { 'Authorization': 'Basic ' + Buffer.from(params.authKey).toString('base64') };
  const gh = { 'Authorization': 'Bearer ' + params.accessToken,
    'Accept': 'application/vnd.github+json', 'X-GitHub-Api-Version': '2022-11-28' };
  const hooksUrl = params.baseUrl + '/repos/' + params.repository + '/hooks';
  const events = String(params.events || 'push').split(',').map((e) => e.trim());

  const trigger = await call('GET', triggerUrl, ow);
  const hooks = await call('GET', hooksUrl, gh);
  const ours = hooks.filter((h) => h.config && h.config.url === triggerUrl);
  const record = { repository: params.repository, baseUrl: params.baseUrl, events,
    hookId: ours.length ? ours[0].id : null, hookUrl: triggerUrl, dateChanged: Date.now() };
  const annotate = (value) => call('PUT', triggerUrl + '?overwrite=true', ow, {
    annotations: (trigger.annotations || []).filter((a) => a.key !== 'hookFeed')
      .concat([{ key: 'hookFeed', value }]),
    parameters: trigger.parameters || [] });
  await annotate(record);
  const [user, key] = params.authKey.split(':');
  const withKey = triggerUrl.replace('://', '://' + encodeURIComponent(user) + ':' + encodeURIComponent(key) + '@');
  const hook = await call('POST', hooksUrl, gh, { name: 'web', active: true, events,
    config: { url: withKey, content_type: 'json', secret: params.secret } });
  record.hookId = hook.id;
  await annotate(record);
  return { hookId: hook.id, repository: params.repository, events: hook.events, outcome: 'installed' };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  main(JSON.parse(input)).then(
    (result) => { console.log(JSON.stringify(result)); },
    (error) => { console.log(JSON.stringify({ error: String(error.message || error) })); });
});
"#;

/// `node` and the script written to `dir`, when `node` runs here.
#[derive(Debug)]
pub struct NodeScript {
    pub node: PathBuf,
    pub script: PathBuf,
    pub version: String,
}

impl NodeScript {
    pub fn find(dir: &Path) -> Option<NodeScript> {
        let output = Command::new("node").arg("--version").output().ok()?;
        if !output.status.success() {
            return None;
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let node = which("node")?;
        let script = dir.join("hook-create.js");
        std::fs::write(&script, SCRIPT).ok()?;
        Some(NodeScript {
            node,
            script,
            version,
        })
    }
}

/// The full path of a program on PATH (the activation runs with an empty environment).
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}
