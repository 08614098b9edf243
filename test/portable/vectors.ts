// Where the shared conformance vectors live: ../shared/vectors beside the repository, unless
// MATTER_XS_VECTORS points elsewhere. They are read in place, never copied into the project.
import { existsSync } from "node:fs";
import { dirname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function vectorsRoot(): string {
  const root = process.env.MATTER_XS_VECTORS ?? resolve(repositoryRoot, "../shared/vectors");
  if (!existsSync(root)) throw new Error(`conformance vectors not found at ${root} (set MATTER_XS_VECTORS)`);
  return root;
}

export function vectorPath(relative: string): string {
  const path = normalize(join(vectorsRoot(), relative));
  if (!path.startsWith(vectorsRoot())) throw new Error(`vector path escapes the vectors folder: ${relative}`);
  return path;
}
