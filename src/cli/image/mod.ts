/** The image-side commands (no daemon needed, except import-aconcli's push). */
import type { Command } from "../command.ts";
import { generateCommand } from "./generate.ts";
import { imageIdCommand } from "./image_id.ts";
import { importAconcliCommand } from "./import_aconcli.ts";
import { keygenCommand } from "./keygen.ts";
import { signCommand } from "./sign.ts";
import { manifestCommand } from "./validate.ts";

export const imageSideCommands: Command[] = [
  keygenCommand,
  generateCommand,
  signCommand,
  manifestCommand,
  imageIdCommand,
  importAconcliCommand,
];
