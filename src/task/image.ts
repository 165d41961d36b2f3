/**
 * `image_id` values, read as SkyPilot reads them: `docker:<image>` runs the task in that container on
 * every node (the nodes boot the cloud's default image); anything else (`ami-…`, `skypilot:<tag>`,
 * a GCP image path) is the VM image the cloud boots.
 */

import { ValueError } from './values.js';

export type ParsedImage = { kind: 'docker'; image: string } | { kind: 'vm'; id: string };

const DOCKER_PREFIX = 'docker:';

/**
 * A Docker image reference: `[host[:port]/]path[:tag][@digest]`, path components lower case
 * (Docker's own grammar, without its length limits).
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?';
const REFERENCE = new RegExp(
  `^${HOST}${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$`,
);

/** Why `image` is not a Docker image reference, or null when it is one. */
export function dockerReferenceProblem(image: string): string | null {
  if (image === '') return 'docker: needs an image name after it, like docker:ubuntu:22.04';
  if (REFERENCE.test(image)) return null;
  if (image !== image.toLowerCase() && REFERENCE.test(image.toLowerCase())) {
    return `'${image}' is not a Docker image name (repository names are lower case: ${image.toLowerCase()})`;
  }
  return `'${image}' is not a Docker image name (expected [registry/]name[:tag][@digest], like docker:ubuntu:22.04)`;
}

/** `docker:<image>` -> the container image; anything else -> a VM image id. Throws ValueError on a bad docker reference. */
export function parseImage(value: string): ParsedImage {
  if (!value.toLowerCase().startsWith(DOCKER_PREFIX)) return { kind: 'vm', id: value };
  const image = value.slice(DOCKER_PREFIX.length).trim();
  const problem = dockerReferenceProblem(image);
  if (problem) throw new ValueError(problem);
  return { kind: 'docker', image };
}

export function isDockerImageId(value: string): boolean {
  return value.toLowerCase().startsWith(DOCKER_PREFIX);
}
