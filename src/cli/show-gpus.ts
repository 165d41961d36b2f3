/**
 * `skyhop show-gpus [NAME[:N]] [--cloud C] [--region R] [--all] [--json]`: renders the SDK's
 * gpuOverview (counts per cloud) or, with a name, gpuOffers (instance types and prices).
 */
import { type GpuOffer, type GpuOverview, gpuOffers, gpuOverview } from '../sdk/gpus.js';
import { textTable } from '../util/table.js';
import { options, type OptionsOf, flags } from './options.js';

export { COMMON_ACCELERATORS, parseAcceleratorArg } from '../sdk/gpus.js';
export type GpuOfferJson = GpuOffer;

export const parse = options({
  accelerator: flags.str(),
  cloud: flags.str(),
  region: flags.str(),
  all: flags.bool(),
  json: flags.bool(),
});
export type ShowGpusOptions = OptionsOf<typeof parse>;

function priceText(p: number | null): string {
  return p === null ? '-' : `$ ${p.toFixed(3)}`;
}

function countsText(counts: number[]): string {
  return counts.length ? counts.join(', ') : '-';
}

function overviewText(v: GpuOverview, o: ShowGpusOptions): string {
  const { accelerators, others } = v;
  if (o.json) return `${JSON.stringify({ accelerators, others })}\n`;
  const shown = Object.keys(accelerators);
  if (shown.length + others.length === 0) {
    return `No accelerators in the catalogs of ${v.clouds.join(', ')}${o.region ? ` in ${o.region}` : ''}.\n`;
  }
  // Columns for the clouds that offer any accelerator (or the one --cloud names).
  const cols = o.cloud !== undefined ? v.clouds : v.offeringClouds;
  const t = textTable(
    [o.all ? 'ACCELERATOR' : 'COMMON_ACCELERATOR', ...cols.map((c) => c.toUpperCase())],
    shown.map((n) => [n, ...cols.map((c) => countsText(accelerators[n][c] ?? []))]),
  );
  const lines = [
    `Counts of each accelerator per instance, by cloud${o.region ? ` (region ${o.region})` : ''}:`,
  ];
  lines.push(t);
  if (others.length) lines.push('', `Other accelerators: ${others.join(', ')} (show them with --all).`);
  lines.push('', 'Details and prices: skyhop show-gpus NAME[:COUNT], e.g. skyhop show-gpus A100:8.');
  return `${lines.join('\n')}\n`;
}

function offersText(offers: GpuOffer[], o: ShowGpusOptions): string {
  if (o.json) return `${JSON.stringify({ offers })}\n`;
  const head = [
    'ACCELERATOR',
    'QTY',
    'CLOUD',
    'INSTANCE_TYPE',
    'DEVICE_MEM',
    'vCPUs',
    'HOST_MEM',
    'HOURLY_PRICE',
    'HOURLY_SPOT_PRICE',
    'REGION',
  ];
  const rows = offers.map((x) => [
    x.accelerator,
    x.count,
    x.cloud,
    x.instance_type ?? '(attached)',
    x.device_memory_gib === null ? '-' : `${x.device_memory_gib}GB`,
    x.vcpus ?? '-',
    x.memory_gib === null ? '-' : `${x.memory_gib}GB`,
    priceText(x.price),
    priceText(x.spot_price),
    x.price_region ?? x.spot_region ?? '-',
  ]);
  return `${textTable(head, rows)}\n`;
}

/** What `show-gpus` prints for these options (tests call this directly). */
export async function showGpusText(o: ShowGpusOptions): Promise<string> {
  const q = { cloud: o.cloud, region: o.region, all: o.all };
  return o.accelerator !== undefined
    ? offersText(await gpuOffers(o.accelerator, q), o)
    : overviewText(await gpuOverview(q), o);
}

export default async function showGpusCmd(o: ShowGpusOptions): Promise<number> {
  process.stdout.write(await showGpusText(o));
  return 0;
}
