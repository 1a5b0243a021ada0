import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface NginxUpstream {
  /** Loopback port nginx listens on for this upstream. */
  listen: number;
  /** host:port of each instance. */
  servers: string[];
}

/**
 * nginx (Debian's package) as the load balancer production would use, on loopback: one listener per
 * upstream, round robin, passive health checks (a refused connection marks the instance down for a
 * while and the request goes to the next one), WebSocket upgrades passed through.
 */
// eslint-disable-next-line max-lines-per-function -- most of it is the nginx.conf template, read as one text
export async function startNginx(upstreams: Record<string, NginxUpstream>): Promise<{ stop(): Promise<void>; errorLog: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-nginx-'));
  const blocks = Object.entries(upstreams).map(
    ([name, u]) => `
  upstream ${name} {
${u.servers.map((s) => `    server ${s} max_fails=1 fail_timeout=10s;`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${u.listen};
    location / {
      proxy_pass http://${name};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $remote_addr;
      # Retry on another instance only when the connection failed before a response began. Services
      # stop gracefully (every request they started is answered), so such a request was never
      # processed: resending it is safe even for a mutation. Never on timeout: it may still run.
      proxy_next_upstream error non_idempotent;
      proxy_read_timeout 60s;
    }
  }`,
  );
  await writeFile(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
${blocks.join('\n')}
}
`,
  );
  // Debian installs it in /usr/sbin, which a non-login PATH may lack.
  const binary = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const child = spawn(binary, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start nginx (apt-get install nginx): ${err.message}`))),
  );
  const ready = (async () => {
    const deadline = Date.now() + 10_000;
    for (const u of Object.values(upstreams)) {
      while (!(await accepts(u.listen))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error('nginx did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  await Promise.race([ready, failed]);
  return {
    errorLog: path.join(dir, 'error.log'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill('SIGQUIT'); // graceful: finish open requests
      }),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
