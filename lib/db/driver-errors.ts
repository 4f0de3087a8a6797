import { MongoServerError } from 'mongodb';

const DUPLICATE_KEY = 11000;
const NAMESPACE_EXISTS = 48;

export function isDuplicateKeyError(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

export function isNamespaceExistsError(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === NAMESPACE_EXISTS;
}
