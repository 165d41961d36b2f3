/**
 * AWS credential detection without the network, following the sources (and, where two apply, the
 * order) of the AWS CLI / SDK default chain:
 *
 * 1. env AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 * 2. the active profile (AWS_PROFILE, else AWS_DEFAULT_PROFILE, else `default`) from the shared files
 *    ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) and ~/.aws/config (AWS_CONFIG_FILE):
 *    role_arn + source_profile|credential_source, role_arn + web_identity_token_file, SSO
 *    (sso_session or legacy sso_start_url), static keys in the credentials file, credential_process,
 *    static keys in the config file;
 * 3. env web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN);
 * 4. container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI).
 *
 * An EC2 instance role (IMDS) cannot be seen without the network and is not detected. A profile
 * named by AWS_PROFILE that is in neither file is an error (the AWS CLI refuses it too), even when
 * env keys are set. SSO tokens are not checked for expiry. Key values are never returned.
 */
import type { CredentialStatus } from '../../core/cluster.js';
import type { CredentialFile, CredentialSources } from '../types.js';
import {
  displayPath,
  envValue,
  expandHome,
  fileExists,
  homePath,
  type Ini,
  nonEmpty,
  parseIni,
  readTextIfExists,
} from '../credentials.js';

const CONFIGURE_HINT =
  'run `aws configure` (writes ~/.aws/credentials), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';

const CREDENTIAL_SOURCES = new Set(['environment', 'ec2instancemetadata', 'ecscontainer']);

interface SharedFiles {
  credPath: string;
  configPath: string;
  cred: Ini | null;
  config: Ini | null;
}

type Section = Map<string, string>;

/** A profile's settings from both files: credentials-file keys win over config-file keys. */
interface Profile {
  name: string;
  fromCred: Section | undefined;
  fromConfig: Section | undefined;
}

function configSection(config: Ini | null, profile: string): Section | undefined {
  if (!config) return undefined;
  if (profile === 'default') return config.get('profile default') ?? config.get('default');
  return config.get(`profile ${profile}`);
}

function findProfile(files: SharedFiles, name: string): Profile | null {
  const fromCred = files.cred?.get(name);
  const fromConfig = configSection(files.config, name);
  if (!fromCred && !fromConfig) return null;
  return { name, fromCred, fromConfig };
}

function get(p: Profile, key: string): string | undefined {
  return nonEmpty(p.fromCred, key) ?? nonEmpty(p.fromConfig, key);
}

function fail(reason: string, hint: string): CredentialStatus {
  return { ok: false, reason, hint };
}

/** The shared credentials and config files in effect (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), read at call time. */
function sharedFilePaths(): { credPath: string; configPath: string } {
  return {
    credPath: expandHome(envValue('AWS_SHARED_CREDENTIALS_FILE') ?? homePath('.aws', 'credentials')),
    configPath: expandHome(envValue('AWS_CONFIG_FILE') ?? homePath('.aws', 'config')),
  };
}

async function loadFiles(): Promise<SharedFiles> {
  const { credPath, configPath } = sharedFilePaths();
  const [credText, configText] = await Promise.all([
    readTextIfExists(credPath),
    readTextIfExists(configPath),
  ]);
  return {
    credPath,
    configPath,
    cred: credText === null ? null : parseIni(credText),
    config: configText === null ? null : parseIni(configText),
  };
}

/**
 * Whether the profile yields credentials; `null` when it has no credential settings at all.
 * `seen` guards source_profile cycles.
 */
async function profileStatus(
  files: SharedFiles,
  p: Profile,
  seen: Set<string>,
): Promise<CredentialStatus | null> {
  const where = p.fromCred ? displayPath(files.credPath) : displayPath(files.configPath);
  const label = `profile '${p.name}'`;
  seen.add(p.name);

  const roleArn = get(p, 'role_arn');
  const tokenFile = get(p, 'web_identity_token_file');
  if (roleArn && !tokenFile) {
    const sourceProfile = get(p, 'source_profile');
    const credentialSource = get(p, 'credential_source');
    if (sourceProfile) {
      const src = findProfile(files, sourceProfile);
      if (!src) {
        return fail(
          `${label} assumes a role with source_profile '${sourceProfile}', which is not defined in ` +
            `${displayPath(files.credPath)} or ${displayPath(files.configPath)}`,
          `add a [${sourceProfile}] profile with credentials, or fix source_profile in ${where}`,
        );
      }
      if (sourceProfile !== p.name && seen.has(sourceProfile)) {
        return fail(
          `${label}: source_profile '${sourceProfile}' refers back to a profile already in the chain`,
          `break the source_profile cycle in ${where}`,
        );
      }
      // A source profile may hold its own static keys even when it also names a role (self-reference).
      const srcStatus =
        sourceProfile === p.name ? staticKeys(files, src) : await profileStatus(files, src, seen);
      if (!srcStatus) {
        return fail(
          `${label} assumes a role from source_profile '${sourceProfile}', which has no credentials`,
          `give [${sourceProfile}] aws_access_key_id/aws_secret_access_key (or SSO, credential_process)`,
        );
      }
      if (!srcStatus.ok) return srcStatus;
      return { ok: true, source: `${label} in ${where}: assume role via source_profile '${sourceProfile}'` };
    }
    if (credentialSource) {
      if (!CREDENTIAL_SOURCES.has(credentialSource.toLowerCase())) {
        return fail(
          `${label} has credential_source '${credentialSource}', which is not one of Environment, ` +
            'Ec2InstanceMetadata, EcsContainer',
          `fix credential_source in ${where}`,
        );
      }
      return {
        ok: true,
        source: `${label} in ${where}: assume role via credential_source ${credentialSource}`,
      };
    }
    return fail(
      `${label} has role_arn but neither source_profile nor credential_source`,
      `add source_profile = <profile with keys> to [${p.name}] in ${where}`,
    );
  }
  if (roleArn && tokenFile) {
    const path = expandHome(tokenFile);
    if (!(await fileExists(path))) {
      return fail(
        `${label}: web_identity_token_file ${displayPath(path)} does not exist`,
        `create the token file or fix web_identity_token_file in ${where}`,
      );
    }
    return { ok: true, source: `${label} in ${where}: web identity token` };
  }

  const ssoSession = get(p, 'sso_session');
  const ssoStartUrl = get(p, 'sso_start_url');
  if (ssoSession || ssoStartUrl) {
    if (ssoSession) {
      const session = files.config?.get(`sso-session ${ssoSession}`);
      if (!session) {
        return fail(
          `${label} uses sso_session '${ssoSession}', but ${displayPath(files.configPath)} has no ` +
            `[sso-session ${ssoSession}] section`,
          'run `aws configure sso` to write the SSO session',
        );
      }
      if (!nonEmpty(session, 'sso_start_url') || !nonEmpty(session, 'sso_region')) {
        return fail(
          `[sso-session ${ssoSession}] in ${displayPath(files.configPath)} lacks sso_start_url or sso_region`,
          'run `aws configure sso` to rewrite the SSO session',
        );
      }
    }
    if (!get(p, 'sso_account_id') || !get(p, 'sso_role_name')) {
      return fail(
        `${label} uses SSO but lacks sso_account_id or sso_role_name`,
        `run \`aws configure sso --profile ${p.name}\``,
      );
    }
    const what = ssoSession ? `SSO session '${ssoSession}'` : 'SSO (legacy sso_start_url)';
    return {
      ok: true,
      source: `${label} in ${displayPath(files.configPath)}: ${what} (run \`aws sso login\` if the token expired)`,
    };
  }

  const fromCredFile = keysIn(p.fromCred);
  if (fromCredFile !== 'none') {
    if (fromCredFile === 'partial') {
      return fail(
        `${label} in ${displayPath(files.credPath)} has only one of aws_access_key_id and aws_secret_access_key`,
        `set both keys in [${p.name}] (\`aws configure --profile ${p.name}\`)`,
      );
    }
    return { ok: true, source: `${label} in ${displayPath(files.credPath)}: static keys` };
  }

  const credentialProcess = get(p, 'credential_process');
  if (credentialProcess) return { ok: true, source: `${label} in ${where}: credential_process` };

  const fromConfigFile = keysIn(p.fromConfig);
  if (fromConfigFile === 'partial') {
    return fail(
      `${label} in ${displayPath(files.configPath)} has only one of aws_access_key_id and aws_secret_access_key`,
      `set both keys in [${p.name === 'default' ? 'default' : `profile ${p.name}`}]`,
    );
  }
  if (fromConfigFile === 'both') {
    return { ok: true, source: `${label} in ${displayPath(files.configPath)}: static keys` };
  }
  return null;
}

/** Only the static keys of a profile (used when a role's source_profile is the profile itself). */
function staticKeys(files: SharedFiles, p: Profile): CredentialStatus | null {
  for (const [section, path] of [
    [p.fromCred, files.credPath],
    [p.fromConfig, files.configPath],
  ] as const) {
    const k = keysIn(section);
    if (k === 'both') return { ok: true, source: `profile '${p.name}' in ${displayPath(path)}: static keys` };
    if (k === 'partial') {
      return fail(
        `profile '${p.name}' in ${displayPath(path)} has only one of aws_access_key_id and aws_secret_access_key`,
        `set both keys in [${p.name}]`,
      );
    }
  }
  return null;
}

function keysIn(section: Section | undefined): 'none' | 'partial' | 'both' {
  const id = nonEmpty(section, 'aws_access_key_id');
  const secret = nonEmpty(section, 'aws_secret_access_key');
  if (id && secret) return 'both';
  return id || secret ? 'partial' : 'none';
}

export async function checkAwsCredentials(): Promise<CredentialStatus> {
  const envId = envValue('AWS_ACCESS_KEY_ID');
  const envSecret = envValue('AWS_SECRET_ACCESS_KEY');
  const profileVar = envValue('AWS_PROFILE')
    ? 'AWS_PROFILE'
    : envValue('AWS_DEFAULT_PROFILE')
      ? 'AWS_DEFAULT_PROFILE'
      : null;
  const profileName = profileVar ? envValue(profileVar)!.trim() : 'default';
  const files = await loadFiles();
  const profile = findProfile(files, profileName);

  if (profileVar && !profile) {
    return fail(
      `profile '${profileName}' (from ${profileVar}) is not defined in ${displayPath(files.credPath)} or ` +
        displayPath(files.configPath),
      `run \`aws configure --profile ${profileName}\`, or unset ${profileVar}`,
    );
  }

  if (envId && envSecret) {
    const vars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
    if (envValue('AWS_SESSION_TOKEN')) vars.push('AWS_SESSION_TOKEN');
    return { ok: true, source: `environment (${vars.join(', ')})` };
  }
  if (envId || envSecret) {
    const [set, missing] = envId
      ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']
      : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
    return fail(`${set} is set but ${missing} is not`, `set ${missing} too, or unset ${set}`);
  }

  if (profile) {
    const st = await profileStatus(files, profile, new Set());
    if (st) return st.ok ? { ...st, identity: `profile ${profile.name}` } : st;
  }

  const tokenFile = envValue('AWS_WEB_IDENTITY_TOKEN_FILE');
  if (tokenFile) {
    if (!envValue('AWS_ROLE_ARN')) {
      return fail(
        'AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not',
        'set AWS_ROLE_ARN to the role to assume',
      );
    }
    const path = expandHome(tokenFile);
    if (!(await fileExists(path))) {
      return fail(
        `AWS_WEB_IDENTITY_TOKEN_FILE=${displayPath(path)} does not exist`,
        'point AWS_WEB_IDENTITY_TOKEN_FILE at the token file, or unset it',
      );
    }
    return { ok: true, source: 'environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN): web identity' };
  }

  for (const v of ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) {
    if (envValue(v)) return { ok: true, source: `container credentials (${v})` };
  }

  if (profile) {
    const where = profile.fromCred ? displayPath(files.credPath) : displayPath(files.configPath);
    return fail(
      `profile '${profile.name}' in ${where} has no credentials (keys, credential_process, SSO or role_arn)`,
      CONFIGURE_HINT,
    );
  }
  const missing = [
    files.cred ? null : displayPath(files.credPath),
    files.config ? null : displayPath(files.configPath),
  ]
    .filter((x) => x !== null)
    .join(' and ');
  return fail(
    `no AWS credentials found (no AWS_ACCESS_KEY_ID, no profile '${profileName}'` +
      `${missing ? `; ${missing} not found` : ''}; an EC2 instance role is not detected without the network)`,
    CONFIGURE_HINT,
  );
}

/**
 * Variables that carry AWS credentials, the profile, the region or an endpoint, passed on by name
 * (skyhop's own endpoint and VPC overrides included). Not the ones naming local files: the shared
 * files are carried to their default places, and AWS_CA_BUNDLE's file with it (below).
 */
export const AWS_CREDENTIAL_ENV: readonly string[] = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_EC2',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ENDPOINT_URL_IAM',
  'AWS_ENDPOINT_URL_PRICING',
  'SKYHOP_AWS_ENDPOINT_URL',
  'SKYHOP_AWS_PRICING_ENDPOINT_URL',
  'SKYHOP_AWS_VPC_ID',
];

/** Where AWS_CA_BUNDLE's file goes on the other machine (AWS_CA_BUNDLE is set there to it). */
export const AWS_CA_BUNDLE_REMOTE = '~/.skyhop/aws/ca-bundle.pem';

/**
 * AWS's credential sources for another machine: the shared credentials and config files in effect
 * (to ~/.aws/credentials and ~/.aws/config, where the CLI and SDKs look by default), the file
 * AWS_CA_BUNDLE names (to AWS_CA_BUNDLE_REMOTE, with AWS_CA_BUNDLE pointed there), and
 * AWS_CREDENTIAL_ENV. Files that do not exist are left out.
 */
export async function awsCredentialSources(): Promise<CredentialSources> {
  const { credPath, configPath } = sharedFilePaths();
  const wanted: CredentialFile[] = [
    { local: credPath, remote: '~/.aws/credentials' },
    { local: configPath, remote: '~/.aws/config' },
  ];
  const ca = envValue('AWS_CA_BUNDLE');
  if (ca !== undefined)
    wanted.push({ local: expandHome(ca), remote: AWS_CA_BUNDLE_REMOTE, pathEnv: 'AWS_CA_BUNDLE' });
  const exists = await Promise.all(wanted.map((f) => fileExists(f.local)));
  return { files: wanted.filter((_, i) => exists[i]), env: [...AWS_CREDENTIAL_ENV] };
}
