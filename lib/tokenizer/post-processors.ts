// tokenizer.json post-processors, for a single sequence: the template of
// special tokens around the sequence's ids.
import type { FileReader } from './json.js';

export type TemplatePiece = { sequence: true } | { sequence: false; token: string; ids: number[] };

/** The pieces around a single sequence, or undefined when the processor adds nothing. */
export function readPostProcessor(r: FileReader, v: unknown, field: string): TemplatePiece[] | undefined {
  if (v === null || v === undefined) return undefined;
  const p = r.object(v, field);
  switch (p.type) {
    case 'TemplateProcessing': {
      const specials = r.object(p.special_tokens, `${field}.special_tokens`);
      return r.array(p.single, `${field}.single`).map((item, i): TemplatePiece => {
        const f = `${field}.single[${i}]`;
        const o = r.object(item, f);
        if (o.Sequence !== undefined) return { sequence: true };
        const name = r.string(r.object(o.SpecialToken, `${f}.SpecialToken`).id, `${f}.SpecialToken.id`);
        const special = r.object(specials[name], `${field}.special_tokens[${JSON.stringify(name)}]`);
        const ids = r.array(special.ids, `${field}.special_tokens[${JSON.stringify(name)}].ids`).map((id, k) => r.integer(id, `${field}.special_tokens[${JSON.stringify(name)}].ids[${k}]`));
        return { sequence: false, token: name, ids };
      });
    }
    case 'RobertaProcessing':
    case 'BertProcessing': {
      const pair = (name: string): TemplatePiece => {
        const a = r.array(p[name], `${field}.${name}`);
        return { sequence: false, token: r.string(a[0], `${field}.${name}[0]`), ids: [r.integer(a[1], `${field}.${name}[1]`)] };
      };
      return [pair('cls'), { sequence: true }, pair('sep')];
    }
    case 'ByteLevel':
      return undefined; // offsets only
    case 'Sequence': {
      // Each processor wraps the output of the one before.
      let template: TemplatePiece[] | undefined;
      r.array(p.processors, `${field}.processors`).forEach((q, i) => {
        const next = readPostProcessor(r, q, `${field}.processors[${i}]`);
        if (!next) return;
        template = template ? next.flatMap((piece) => (piece.sequence ? template! : [piece])) : next;
      });
      return template;
    }
    default:
      return r.unsupported(`${field}.type`, p.type);
  }
}
