/**
 * Measures the FluffyCloud emulator's boot path with boot_delay_s 0: from the launch call to `running` in
 * list_instances (polled every 10 ms), and to the first successful `ssh root@IP true` (OpenSSH client,
 * polling list_instances for the address, then retrying ssh). 1 instance, then 8 launched at once.
 * Not a test (prints figures, asserts nothing): node --import tsx test/unit/emulator/bench-boot.ts [runs]
 */
import { type EmulatorHandle, startEmulator } from '../../helpers/fluffycloud.js';
import { api, makeKeyPair, ssh } from './helpers.js';

const RUNS = Number(process.argv[2] ?? 3);
const key = makeKeyPair();
const fc: EmulatorHandle = await startEmulator({ bootDelayS: 0 });
await api(fc.url, fc.apiKey, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function one(i: number): Promise<{ running: number; ssh: number }> {
  const t0 = performance.now();
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/instances', {
    name: `bench-${i}`,
    instance_type: 'ff.small',
    region: 'fluffy-east',
    ssh_key_name: 'k',
  });
  const id = r.body.id as string;
  let running = 0;
  let inst: { ip: string; ssh_port: number } | null = null;
  for (;;) {
    const cur = (await api(fc.url, fc.apiKey, 'GET', `/v1/instances/${id}`)).body;
    if (cur.status === 'running') {
      running = performance.now() - t0;
      inst = cur;
      break;
    }
    await sleep(10);
  }
  for (;;) {
    if ((await ssh(key.privateKey, inst!.ip, inst!.ssh_port, 'true')).code === 0) break;
    await sleep(10);
  }
  return { running, ssh: performance.now() - t0 };
}

const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, min ${s[0]!.toFixed(0)}, max ${s[s.length - 1]!.toFixed(0)}`;
};

try {
  for (const n of [1, 8]) {
    const running: number[] = [];
    const ssha: number[] = [];
    const all: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
      all.push(performance.now() - t0);
      running.push(...rs.map((r) => r.running));
      ssha.push(...rs.map((r) => r.ssh));
      await api(fc.url, fc.adminToken, 'POST', '/admin/teardown');
    }
    console.log(`${n} instance(s), ${RUNS} runs:`);
    console.log(`  launch -> running:         ${fmt(running)}`);
    console.log(`  launch -> first ssh ok:    ${fmt(ssha)}`);
    if (n > 1) console.log(`  launch -> all ${n} ssh ok:   ${fmt(all)}`);
  }
} finally {
  await fc.stop();
  key.cleanup();
}
