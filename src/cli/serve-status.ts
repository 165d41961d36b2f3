/** `skyhop serve status [NAME...] [--endpoint] [--json]`: services and their replicas (SkyPilot's columns). */
import type { ServiceInfo } from '../core/serve.js';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import { ago, duration, printJson, table } from './ui.js';

export const parse = options({
  serviceNames: flags.words(),
  endpoint: flags.bool(),
  json: flags.bool(),
});
export type ServeStatusOptions = OptionsOf<typeof parse>;

const ALIVE = new Set(['PENDING', 'PROVISIONING', 'STARTING', 'READY', 'NOT_READY']);

export function renderServices(services: ServiceInfo[], now: number): Promise<string> {
  return table(
    ['NAME', 'VERSION', 'UPTIME', 'STATUS', 'REPLICAS', 'QPS', 'ENDPOINT'],
    services.map((s) => {
      const alive = s.replicas.filter((r) => ALIVE.has(r.status));
      const ready = alive.filter((r) => r.status === 'READY').length;
      const versions = s.activeVersions.length > 1 ? s.activeVersions.join(',') : String(s.version);
      return [
        s.name,
        versions,
        duration(now - s.createdAt),
        s.status,
        `${ready}/${alive.length}`,
        s.qps.toFixed(2),
        s.endpoint ?? '-',
      ];
    }),
  );
}

export function renderReplicas(services: ServiceInfo[], now: number): Promise<string> {
  const rows = services.flatMap((s) =>
    s.replicas.map((r) => [
      s.name,
      r.id,
      r.version,
      r.url ?? '-',
      r.launchedAt ? ago(r.launchedAt, now) : '-',
      [r.cloud, r.region, r.zone].filter(Boolean).join('/') || '-',
      r.instanceType ? `${r.instanceType}${r.spot ? '[spot]' : ''}` : r.spot ? 'spot' : '-',
      r.status,
      r.reason ?? '',
    ]),
  );
  return table(
    ['SERVICE_NAME', 'ID', 'VERSION', 'ENDPOINT', 'LAUNCHED', 'INFRA', 'RESOURCES', 'STATUS', 'DETAILS'],
    rows,
  );
}

export default async function serveStatusCmd(o: ServeStatusOptions): Promise<number> {
  const { serveStatus, serveControllerStopped } = await import('../sdk/serve.js');
  if (o.endpoint && o.serviceNames.length !== 1)
    throw new UserError('--endpoint takes exactly one service name');
  const services = await serveStatus({ names: o.serviceNames });
  if (o.endpoint) {
    const s = services[0]!;
    if (!s.endpoint) throw new UserError(`service '${s.name}' has no endpoint yet (${s.status})`);
    process.stdout.write(`${s.endpoint}\n`);
    return 0;
  }
  if (o.json) {
    printJson(services);
    return 0;
  }
  if (services.length === 0) {
    process.stdout.write(
      serveControllerStopped()
        ? 'No services (the serve controller is stopped: it stops itself once it has none).\n'
        : 'No services.\n',
    );
    return 0;
  }
  const now = Date.now();
  process.stdout.write(`Services\n${await renderServices(services, now)}\n\nService Replicas\n`);
  const hasReplicas = services.some((s) => s.replicas.length > 0);
  process.stdout.write(hasReplicas ? `${await renderReplicas(services, now)}\n` : 'No replicas yet.\n');
  for (const s of services) if (s.reason) process.stdout.write(`${s.name}: ${s.reason}\n`);
  return 0;
}
