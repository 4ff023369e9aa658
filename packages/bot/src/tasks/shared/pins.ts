import { z } from 'zod';
import type { TaskMemory } from '../../plan.ts';

/**
 * The memory of the image-shaped tasks (image-update, version-add, version-retire): which image each proposal pinned,
 * by tag and digest. The next run reads it back to respect a human's rejection or a later downgrade.
 */
export interface Pin {
  image: string;
  tag: string;
  digest: string;
}

export function pinsMemory(pins: readonly Pin[]): TaskMemory {
  return { pins: pins.map((pin) => ({ image: pin.image, tag: pin.tag, digest: pin.digest })) };
}

const pinsSchema = z.object({ pins: z.array(z.strictObject({ image: z.string(), tag: z.string(), digest: z.string() })) });

/** The pins a proposal recorded; none when its memory has another shape (a marker is untrusted text). */
export function readPins(memory: TaskMemory): Pin[] {
  const parsed = pinsSchema.safeParse(memory);
  return parsed.success ? parsed.data.pins : [];
}
