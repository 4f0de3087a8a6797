const { TestEnvironment } = require('jest-environment-node');

/**
 * Node's test environment, plus environment variables a test file asks for in its docblock:
 *
 *   /** @jest-environment-options {"env": {"POWERTOOLS_LOG_LEVEL": "DEBUG"}} *\/
 *
 * They are set before the setup files run, so that modules they load (the service's logger and
 * metrics, which read their settings when they are made) see them. Each test file has its own
 * process.env, so nothing leaks into the next file.
 */
class EnvironmentWithOptions extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    Object.assign(this.global.process.env, config.projectConfig.testEnvironmentOptions?.env ?? {});
  }
}

module.exports = EnvironmentWithOptions;
