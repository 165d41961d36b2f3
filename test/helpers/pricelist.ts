/**
 * A stand-in for the AWS Price List API (GetProducts) on a loopback port, for what moto does not
 * serve: the real SDK speaks its JSON 1.1 protocol to it. It answers from a table of products (one
 * per page, so pagination is exercised) or with the error it is told to give; it records the
 * requests it got.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PriceListProduct {
  instanceType: string;
  region: string;
  /** USD per hour. */
  price: number;
  /** Default 'Hrs'. */
  unit?: string;
}

export interface PriceListHandle {
  endpoint: string;
  requests: Array<{ target: string; body: Record<string, unknown> }>;
  /** Answer every call with this error (null: answer normally). */
  fail: { status: number; type: string; message: string } | null;
  stop(): Promise<void>;
}

/** A product document as the Price List API writes it (abridged to the fields that matter). */
export function productDoc(p: PriceListProduct): string {
  return JSON.stringify({
    product: {
      productFamily: 'Compute Instance',
      attributes: {
        instanceType: p.instanceType,
        regionCode: p.region,
        operatingSystem: 'Linux',
        tenancy: 'Shared',
        preInstalledSw: 'NA',
        capacitystatus: 'Used',
      },
      sku: `SKU${p.instanceType}${p.region}`,
    },
    serviceCode: 'AmazonEC2',
    terms: {
      OnDemand: {
        'SKU.JRTCKXETXF': {
          priceDimensions: {
            'SKU.JRTCKXETXF.6YS6EN2CT7': {
              unit: p.unit ?? 'Hrs',
              pricePerUnit: { USD: p.price.toFixed(10) },
              description: `$${p.price} per On Demand Linux ${p.instanceType} Instance Hour`,
            },
          },
        },
      },
    },
    version: '20261101000000',
  });
}

export async function startPriceList(products: PriceListProduct[]): Promise<PriceListHandle> {
  const handle: PriceListHandle = {
    endpoint: '',
    requests: [],
    fail: null,
    stop: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {}
      handle.requests.push({ target, body });
      const reply = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(v));
      };
      if (handle.fail) {
        reply(handle.fail.status, { __type: handle.fail.type, message: handle.fail.message });
        return;
      }
      if (target !== 'AWSPriceListService.GetProducts') {
        reply(400, { __type: 'UnknownOperationException', message: target });
        return;
      }
      const filters = (body.Filters as Array<{ Field: string; Value: string }> | undefined) ?? [];
      const region = filters.find((f) => f.Field === 'regionCode')?.Value;
      const matching = products.filter((p) => p.region === region);
      const at = Number(body.NextToken ?? 0);
      const page = matching.slice(at, at + 1);
      reply(200, {
        FormatVersion: 'aws_v1',
        PriceList: page.map(productDoc),
        ...(at + 1 < matching.length ? { NextToken: String(at + 1) } : {}),
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  handle.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  handle.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return handle;
}
