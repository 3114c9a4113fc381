/**
 * Checks a JSON value against a schema of an OpenAPI 3.0 document, with the subset of keywords
 * interLink's document uses (type, properties, items, $ref, nullable, additionalProperties,
 * format). interLink's own structs (`Interlink*`) are checked strictly: a property the document
 * does not name is an error, which catches a misspelt field the server would silently ignore.
 */
import { readFileSync } from 'node:fs';

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: unknown[];
}

export interface OpenApiDoc {
  paths: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, { schema: Schema }> } }>
  >;
  components: { schemas: Record<string, Schema> };
}

export function loadOpenApi(path: string): OpenApiDoc {
  return JSON.parse(readFileSync(path, 'utf8')) as OpenApiDoc;
}

/**
 * Go types the document describes as objects but that travel as JSON scalars
 * (resource.Quantity is "2Gi", IntOrString is 8080 or "http").
 */
const SCALAR_OBJECTS = new Set(['ResourceQuantity', 'IntstrIntOrString']);

export function checkSchema(
  doc: OpenApiDoc,
  schema: Schema,
  value: unknown,
  path = '$',
  strict = false
): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (!target) return [`${path}: unknown schema ${schema.$ref}`];
    if (SCALAR_OBJECTS.has(name) && (typeof value === 'string' || typeof value === 'number'))
      return [];
    return checkSchema(doc, target, value, path, name.startsWith('Interlink'));
  }
  if (value === null) return schema.nullable ? [] : [`${path}: null is not allowed`];
  if (value === undefined) return [];
  if (schema.enum && !schema.enum.includes(value))
    return [`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object`];
      const problems: string[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const prop = schema.properties?.[k];
        if (prop) problems.push(...checkSchema(doc, prop, v, `${path}.${k}`));
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
          problems.push(...checkSchema(doc, schema.additionalProperties, v, `${path}.${k}`));
        } else if (strict && schema.properties) problems.push(`${path}.${k}: not in the document`);
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${path}: expected an array`];
      return value.flatMap((v, i) =>
        schema.items ? checkSchema(doc, schema.items, v, `${path}[${i}]`) : []
      );
    case 'string':
      if (typeof value !== 'string') return [`${path}: expected a string`];
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value)))
        return [`${path}: not a date-time`];
      if (schema.format === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
        return [`${path}: not base64`];
      return [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${path}: expected an integer`];
    case 'number':
      return typeof value === 'number' ? [] : [`${path}: expected a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`];
    default:
      return [];
  }
}

/** Problems with a request body for `path`, whatever method carried it (the quirks are accepted). */
export function checkRequest(doc: OpenApiDoc, path: string, body: unknown): string[] {
  const ops = doc.paths[path];
  if (!ops) return [`${path}: not in the document`];
  const op = Object.values(ops)[0];
  const schema = op.requestBody?.content?.['application/json']?.schema;
  if (!schema) return body === undefined ? [] : [];
  return checkSchema(doc, schema, body, path);
}
