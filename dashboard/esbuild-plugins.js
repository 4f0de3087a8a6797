// The plugins serverless-esbuild adds to every function's build (serverless.yml:
// custom.esbuild.plugins). Only the dashboard's handler imports the module this one provides.
module.exports = [require('./build').dashboardAssetsPlugin()];
