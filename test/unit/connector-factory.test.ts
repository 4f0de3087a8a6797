import { create, KNOWN_CONNECTOR_TYPES, MongoMetadataConnector } from '../../lib/connector';
import { ValidationError } from '../../lib/errors';

describe('create (the metadata connector factory)', () => {
  it.each(['MongoMetadataConnector', 'mongometadataconnector', 'MONGOMETADATACONNECTOR'])(
    'matches the type %s case-insensitively',
    (type) => {
      expect(create(type, {})).toBeInstanceOf(MongoMetadataConnector);
    },
  );

  it('names the known types when the type is unknown', () => {
    expect(() => create('DjangoMetadataConnector')).toThrow(ValidationError);
    expect(() => create('DjangoMetadataConnector')).toThrow(/known types: MongoMetadataConnector/);
    expect(KNOWN_CONNECTOR_TYPES).toEqual(['MongoMetadataConnector']);
  });

  it('does not mistake inherited object properties for types', () => {
    expect(() => create('constructor')).toThrow(ValidationError);
    expect(() => create('__proto__')).toThrow(ValidationError);
  });

  it('validates the settings', () => {
    expect(() => create('MongoMetadataConnector', { connection_string: 'http://example' })).toThrow(/connection_string/);
    expect(() => create('MongoMetadataConnector', { database_name: 'has space' })).toThrow(/database_name/);
    expect(() => create('MongoMetadataConnector', { unexpected: true })).toThrow(ValidationError);
  });
});
