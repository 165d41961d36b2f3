/**
 * AWS failover classification, by EC2 error code (what SkyPilot's AWS failover handler blocks):
 * capacity in an AZ -> zone; account limits and things a region lacks (quota, AMI, opt-in) -> region;
 * credentials or permissions -> the whole cloud; throttling and 5xx -> retry; a malformed request -> fatal.
 * Only AWS's own codes are mapped here; what every cloud shares (interrupts, UserError, the provider's
 * own ProvisionError, bugs, network hiccups, unknown errors -> the zone tried) is decided once by the
 * failover loop (src/provision/classify.ts). undefined: not an AWS error this table knows.
 *
 * Spot: SpotMaxPriceTooLow blocks the zone (spot prices are set per AZ; another AZ of the region can be
 * below the maximum price); MaxSpotInstanceCountExceeded blocks the region (the spot quota is per account
 * and region, so no zone of the region can do better). RequestExpired (the request's signature time is
 * too far from AWS's clock) and expired tokens block the cloud: every region would say the same.
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

const ZONE = new Set([
  'insufficientinstancecapacity',
  'insufficienthostcapacity',
  'insufficientreservedinstancecapacity',
  'insufficientcapacity',
  'insufficientfreeaddressesinsubnet',
  'unsupported',
  'spotmaxpricetoolow',
]);
const REGION = new Set([
  'vcpulimitexceeded',
  'instancelimitexceeded',
  'maxspotinstancecountexceeded',
  'addresslimitexceeded',
  'invalidamiid.notfound',
  'invalidamiid.unavailable',
  'optinrequired',
  'securitygrouplimitexceeded',
  'vpclimitexceeded',
]);
const CLOUD = new Set([
  'authfailure',
  'unauthorizedoperation',
  'invalidclienttokenid',
  'unrecognizedclientexception',
  'signaturedoesnotmatch',
  'expiredtoken',
  'expiredtokenexception',
  'requestexpired',
  'accessdenied',
  'accessdeniedexception',
  'credentialsprovidererror',
  'pendingverification',
  'blocked',
]);
const RETRY = new Set([
  'requestlimitexceeded',
  'throttling',
  'throttlingexception',
  'serviceunavailable',
  'internalerror',
  'internalfailure',
  'unavailable',
]);

export function classifyAwsError(e: unknown): BlockScope | undefined {
  const f = errorFacts(e);
  const code = f.code.toLowerCase();
  if (ZONE.has(code)) return 'zone';
  if (REGION.has(code)) return 'region';
  if (CLOUD.has(code)) return 'cloud';
  if (RETRY.has(code)) return 'retry';
  if (code.startsWith('invalid') || code.startsWith('missingparameter')) return 'fatal';
  if (/insufficient capacity|capacity not available/.test(f.message)) return 'zone';
  return undefined;
}
