/**
 * `npm run create-developer -- <name>`: creates a developer on the database MONGODB_URI names
 * (MONGODB_DB_NAME, default `fma`) and prints its API token once. Only the token's SHA-256 is
 * stored; a lost token cannot be recovered, only replaced by a new developer.
 */
import { create } from '../lib/connector';

async function main(): Promise<void> {
  const name = process.argv.slice(2).find((arg) => arg !== '--');
  const uri = process.env.MONGODB_URI;
  if (name === undefined || uri === undefined) {
    console.error('usage: MONGODB_URI=mongodb://... npm run create-developer -- <name>');
    process.exit(2);
  }
  const connector = create('MongoMetadataConnector', { connection_string: uri });
  try {
    await connector.updateDatabase();
    const developer = await connector.createDeveloper(name);
    console.log(`developer ${developer.name} (${developer.id})`);
    console.log(`Authorization: Token ${developer.token}`);
  } finally {
    await connector.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
