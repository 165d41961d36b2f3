/**
 * API errors of the FluffyCloud emulator: an HTTP status, a machine-readable `code` and a one-line
 * message that always starts with `FluffyCloudError:` (docs/fluffycloud-api.md, "Conventions").
 */
export type ApiErrorCode =
  | 'unauthorized'
  | 'bad_request'
  | 'not_found'
  | 'capacity'
  | 'quota'
  | 'region_unavailable'
  | 'internal'
  | 'rate_limited';

const STATUS: Record<ApiErrorCode, number> = {
  unauthorized: 401,
  bad_request: 400,
  not_found: 404,
  capacity: 503,
  quota: 403,
  region_unavailable: 503,
  internal: 500,
  rate_limited: 429,
};

export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, text: string, status?: number) {
    super(`FluffyCloudError: ${text}`);
    this.name = 'ApiError';
    this.code = code;
    this.status = status ?? STATUS[code];
  }

  body(): { error: { code: ApiErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const badRequest = (text: string): ApiError => new ApiError('bad_request', text);
export const notFound = (text: string): ApiError => new ApiError('not_found', text);
