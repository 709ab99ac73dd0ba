// Request validation: the named schemas of api/schemas.ts compiled once, at app creation, by ajv.
// Bodies are validated as sent (no type coercion); path and query parameters arrive as strings and
// are coerced. Defaults from the schemas are filled in, so handlers see complete input.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ApiError } from './problem.js';
import type { SchemaName, Schemas } from './schemas.js';

// ajv-formats is CommonJS: under NodeNext its default import may arrive wrapped.
const addFormats = addFormatsModule.default ?? addFormatsModule;

export const SCHEMA_DOCUMENT_ID = 'urn:stockline:api';
const MAX_REPORTED_ERRORS = 20;

export type InputLocation = 'body' | 'query' | 'path' | 'header';

export interface FieldError {
  readonly in: InputLocation;
  readonly path: string;
  readonly message: string;
}

function newAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    useDefaults: true,
    coerceTypes: coerce,
    allowUnionTypes: true,
  });
  addFormats(ajv);
  // The schemas live under an OpenAPI-shaped `components` member so `#/components/schemas/X` refs
  // resolve the same way in ajv and in the published document.
  ajv.addKeyword('components');
  return ajv;
}

const describe = (error: ErrorObject): string => {
  switch (error.keyword) {
    case 'additionalProperties':
      return `unknown field ${JSON.stringify(String(error.params.additionalProperty))}`;
    case 'enum':
      return `must be one of: ${(error.params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'required':
      return `missing required field ${JSON.stringify(String(error.params.missingProperty))}`;
    default:
      return error.message ?? 'is invalid';
  }
};

export function fieldErrors(
  location: InputLocation,
  errors: readonly ErrorObject[] | null | undefined,
): FieldError[] {
  return (errors ?? [])
    .filter((error) => error.keyword !== 'if') // "must match then": the nested error says why
    .slice(0, MAX_REPORTED_ERRORS)
    .map((error) => ({ in: location, path: error.instancePath || '/', message: describe(error) }));
}

export const validationError = (errors: FieldError[]): ApiError =>
  new ApiError(
    'VALIDATION_FAILED',
    errors.map((error) => `${error.in} ${error.path}: ${error.message}`).join('; '),
    { details: { errors } },
  );

/** All validators, compiled once. */
export class SchemaRegistry {
  private readonly strict: Ajv2020;
  private readonly coercing: Ajv2020;
  private readonly bodyValidators = new Map<SchemaName, ValidateFunction>();
  private readonly inputValidators = new Map<SchemaName, ValidateFunction>();

  constructor(readonly schemas: Schemas) {
    this.strict = newAjv(false);
    this.coercing = newAjv(true);
    for (const ajv of [this.strict, this.coercing]) {
      ajv.addSchema({ $id: SCHEMA_DOCUMENT_ID, components: { schemas } });
    }
    for (const name of Object.keys(schemas) as SchemaName[]) {
      this.bodyValidators.set(name, this.compile(this.strict, name));
      this.inputValidators.set(name, this.compile(this.coercing, name));
    }
  }

  private compile(ajv: Ajv2020, name: SchemaName): ValidateFunction {
    const validate = ajv.getSchema(`${SCHEMA_DOCUMENT_ID}#/components/schemas/${name}`);
    if (!validate) throw new Error(`schema ${name} did not compile`);
    return validate;
  }

  private validator(map: Map<SchemaName, ValidateFunction>, name: SchemaName): ValidateFunction {
    const validate = map.get(name);
    if (!validate) throw new Error(`unknown schema ${name}`);
    return validate;
  }

  /**
   * Validates `value` against schema `name`, filling defaults; throws VALIDATION_FAILED naming every
   * invalid field. Path and query values are copied and coerced from strings; bodies are taken as sent.
   */
  parse<T>(name: SchemaName, location: InputLocation, value: unknown): T {
    const coerce = location === 'path' || location === 'query';
    const validate = this.validator(coerce ? this.inputValidators : this.bodyValidators, name);
    const copy: unknown = coerce && value !== null && typeof value === 'object' ? { ...value } : value;
    if (!validate(copy)) throw validationError(fieldErrors(location, validate.errors));
    return copy as T;
  }

  /** Checks a response body against its documented schema (used by the tests). */
  check(name: SchemaName, value: unknown): FieldError[] {
    const validate = this.validator(this.bodyValidators, name);
    return validate(value) ? [] : fieldErrors('body', validate.errors);
  }
}
