/**
 * EFA, AWS's high-performance network (`network_tier: best`): which instance types have it (the
 * generated table efa-types.ts, from EC2's DescribeInstanceTypes NetworkInfo.EfaSupported) and how a
 * launch asks for it (one EFA interface as the primary network interface, in a security group that
 * lets the cluster's nodes reach each other on every port, as EFA requires).
 */
import { EFA_TYPES } from './efa-types.js';

/** Whether EC2 instance type `t` (`p4d.24xlarge`) supports EFA. */
export function hasEfa(t: string): boolean {
  const dot = t.indexOf('.');
  if (dot < 0) return false;
  return EFA_TYPES[t.slice(0, dot)]?.includes(t.slice(dot + 1)) ?? false;
}
