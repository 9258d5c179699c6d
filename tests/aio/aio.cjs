// `aio ARGS...` for the tests: Adobe's runtime plugin (npm @adobe/aio-cli-plugin-runtime, the
// code behind `aio runtime ...`) run as the aio CLI runs a plugin's command: oclif loads the
// plugin and dispatches `runtime deploy ...` to its command class.
//
//   node aio.cjs runtime deploy -m manifest.yaml
//
// Reads its host and key as aio does (AIO_RUNTIME_APIHOST, AIO_RUNTIME_AUTH, AIO_RUNTIME_NAMESPACE,
// or the aio config and ~/.wskprops files), so no login is needed.

const path = require('node:path')

const plugin = path.dirname(require.resolve('@adobe/aio-cli-plugin-runtime/package.json'))
// The oclif the plugin itself depends on (as installed for it).
const { run, flush, Errors } = require(require.resolve('@oclif/core', { paths: [plugin] }))

run(process.argv.slice(2), plugin).then(flush).catch(Errors.handle)
