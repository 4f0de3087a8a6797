import { requireObjectStoreSettings, type Config } from '../../lib/config';
import { ConfigurationError } from '../../lib/errors';

const config = (settings: Partial<Config>) => settings as Config;

describe('object store settings', () => {
  it('uses S3 itself, virtual-hosted URLs and the Lambda region when only the bucket is set', () => {
    expect(requireObjectStoreSettings(config({ S3_BUCKET: 'weights', AWS_REGION: 'eu-west-1' }))).toEqual({
      bucket: 'weights',
      endpoint: undefined,
      region: 'eu-west-1',
      forcePathStyle: false,
    });
  });

  it('uses path-style URLs for an S3_ENDPOINT unless told otherwise, and S3_REGION over AWS_REGION', () => {
    const local = { S3_BUCKET: 'weights', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_REGION: 'us-west-2', AWS_REGION: 'x' };
    expect(requireObjectStoreSettings(config(local))).toMatchObject({ forcePathStyle: true, region: 'us-west-2' });
    expect(requireObjectStoreSettings(config({ ...local, S3_FORCE_PATH_STYLE: 'false' }))).toMatchObject({
      forcePathStyle: false,
    });
    expect(requireObjectStoreSettings(config({ S3_BUCKET: 'weights' }))).toMatchObject({ region: 'us-east-1' });
  });

  it('refuses to work without a bucket, saying what to set', () => {
    expect(() => requireObjectStoreSettings(config({}))).toThrow(ConfigurationError);
    expect(() => requireObjectStoreSettings(config({}))).toThrow(/S3_BUCKET/);
    // What serverless-offline passes for an unresolved `!Ref WeightsBucket`.
    expect(() => requireObjectStoreSettings(config({ S3_BUCKET: '[object Object]' }))).toThrow(ConfigurationError);
  });
});
