import { z } from 'zod';

// Owned by the inference issue (#6): the `models:` list.
export const modelSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').describe('unique model id'),
  path: z.string().describe('the .onnx file'),
  enabled: z.boolean().default(true),
});
export type ModelConfig = z.output<typeof modelSchema>;
