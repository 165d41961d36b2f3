/**
 * SkyPilot's image catalogs (`<cloud>/images.csv`, schema v7: Tag, Region, OS, OSVersion, ImageId,
 * ...): how `image_id: skypilot:<tag>` becomes a cloud's own image, as SkyPilot maps it
 * (`get_image_id_from_tag`: the row of that tag in the region). A downloaded copy
 * (`$SKYHOP_HOME/catalogs/<cloud>/images.csv`) wins over the bundled one; a cloud with neither has no
 * SkyPilot images. Rows with an empty ImageId (images SkyPilot retired) do not count.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { skyhopHome } from '../util/paths.js';

export const SKYPILOT_TAG_PREFIX = 'skypilot:';

/** `skypilot:<tag>` -> the whole tag as the catalog spells it; null for any other image id. */
export function skypilotTag(imageId: string | undefined): string | null {
  return imageId?.toLowerCase().startsWith(SKYPILOT_TAG_PREFIX) ? imageId : null;
}

export interface SkyImages {
  /** Where the rows came from. */
  path: string;
  /** Every tag with at least one image, sorted. */
  tags(): string[];
  /** The image of `tag` in `region`, or null. */
  imageFor(tag: string, region: string): string | null;
  /** The regions where `tag` has an image. */
  regionsOf(tag: string): string[];
}

const memo = new Map<string, SkyImages | null>();

/** The image catalog of `cloud`, or null when it has none. */
export function skypilotImages(cloud: string): SkyImages | null {
  if (!/^[a-z0-9-]+$/.test(cloud)) return null;
  const candidates = [
    join(skyhopHome(), 'catalogs', cloud, 'images.csv'),
    join(packageRoot(), 'catalogs', cloud, 'images.csv'),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) return null;
  if (memo.has(path)) return memo.get(path) ?? null;
  const images = parseImages(path, readFileSync(path, 'utf8'));
  memo.set(path, images);
  return images;
}

/** Parses an images.csv (plain fields: tags, regions and ids hold no commas or quotes). */
export function parseImages(path: string, text: string): SkyImages {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: no ${name} column in the header`);
    return i;
  };
  const [tagCol, regionCol, idCol] = [col('Tag'), col('Region'), col('ImageId')];
  const byTag = new Map<string, Map<string, string>>();
  for (const line of lines) {
    const f = line.split(',');
    const tag = f[tagCol]?.trim();
    const region = f[regionCol]?.trim();
    const id = f[idCol]?.trim();
    if (!tag || !region || !id) continue;
    let regions = byTag.get(tag);
    if (!regions) {
      regions = new Map();
      byTag.set(tag, regions);
    }
    regions.set(region, id);
  }
  return {
    path,
    tags: () => [...byTag.keys()].sort(),
    imageFor: (tag, region) => byTag.get(tag)?.get(region) ?? null,
    regionsOf: (tag) => [...(byTag.get(tag)?.keys() ?? [])].sort(),
  };
}

/**
 * The image a node of `cloud` in `region` boots for `imageId`: a `skypilot:<tag>` mapped through the
 * cloud's image catalog, any other id as it is. Planning keeps only regions where a tag maps, so a
 * tag without an image here is a bug upstream; it throws rather than send the tag to the cloud.
 */
export function resolveImageId(cloud: string, imageId: string, region: string): string {
  const tag = skypilotTag(imageId);
  if (!tag) return imageId;
  const id = skypilotImages(cloud)?.imageFor(tag, region);
  if (!id) throw new Error(`${cloud} has no image for ${tag} in ${region}`);
  return id;
}
